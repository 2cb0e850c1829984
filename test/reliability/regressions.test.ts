// Listener bugs found by the reliability suite, one test each, kept apart so that the rest
// of test/reliability stays green while a bug is open. Each test names what breaks;
// docs/reliability.md lists them with their cause and whether the fix has landed. A fixed
// bug's test stays here as its regression test.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { echoscu } from '../support/dcmtk.ts';
import { buildInstance, dataSetOffset, SopClass, TransferSyntax } from '../support/dicom-file.ts';
import { describeCase, generateCase } from '../support/fuzz/mutator.ts';
import { runCase } from '../support/fuzz/runner.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { associateRq, commandSet, pdata, PduType, RawScu } from '../support/raw-scu.ts';
import { makeWorkDir } from '../support/work-dir.ts';
import { sleep } from './harness.ts';
import { pollUntil } from '../support/proc.ts';

const VERIFICATION = [{ id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] }];

async function activeAssociations(l: ListenerProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${l.opsPort}/metrics`)).text();
  return Number(/^dicom_associations_active(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

async function partialFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map(String).filter((n) => n.endsWith('.partial'));
}

/** Resolves with what the peer did within `ms`: the first PDU type it sent, 'closed', or 'nothing'. */
async function answerWithin(scu: RawScu, ms: number): Promise<number | 'closed' | 'nothing'> {
  try {
    const pdu = await scu.readPdu(ms);
    return pdu ? pdu.type : 'closed';
  } catch {
    return 'nothing';
  }
}

describe('regressions: listener bugs found by the reliability suite', () => {
  let listener: ListenerProcess | undefined;

  afterEach(async () => {
    await listener?.stop().catch(() => undefined);
    listener = undefined;
  });

  test('a second A-ASSOCIATE-RQ on an open association does not leak an association slot', async () => {
    // GIVEN a listener allowing 2 associations, and a peer that repeats its A-ASSOCIATE-RQ 3 times on one association
    const work = await makeWorkDir('rel-regress-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store`, DICOM_MAX_ASSOCIATIONS: '2' });
    const peer = await RawScu.connect(listener.port);
    expect((await peer.associate({ contexts: VERIFICATION })).accepted).toBe(true);
    for (let i = 0; i < 3; i++) peer.send(associateRq({ contexts: VERIFICATION }));
    await sleep(300);
    // WHEN that peer goes away
    peer.destroy();
    await peer.closed;
    // THEN the gauge returns to 0 and two associations can be held at once again
    expect(await pollUntil(() => activeAssociations(listener!), (n) => n === 0, 3_000)).toBe(0);
    const [a, b] = await Promise.all([RawScu.connect(listener.port), RawScu.connect(listener.port)]);
    const results = await Promise.all([a!.associate({ contexts: VERIFICATION }), b!.associate({ contexts: VERIFICATION })]);
    a!.destroy();
    b!.destroy();
    expect(results.map((r) => r.accepted)).toEqual([true, true]);
  });

  test('a second A-ASSOCIATE-RQ on an open association is answered with A-ABORT (PS3.8 state Sta6, action AA-8), not a second A-ASSOCIATE-AC', async () => {
    // GIVEN an open association
    const work = await makeWorkDir('rel-regress-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store` });
    const peer = await RawScu.connect(listener.port);
    expect((await peer.associate({ contexts: VERIFICATION })).accepted).toBe(true);
    // WHEN the peer sends another A-ASSOCIATE-RQ on it
    peer.send(associateRq({ contexts: VERIFICATION }));
    // THEN the answer is an A-ABORT
    const answer = await answerWithin(peer, 3_000);
    peer.destroy();
    expect(answer).toBe(PduType.Abort);
  });

  test('an A-ASSOCIATE-RQ the library cannot answer (129 presentation contexts, an ID repeated) is answered at once, not left holding a slot until the idle timeout', async () => {
    // GIVEN the default 300 s idle timeout and a limit of one association
    const work = await makeWorkDir('rel-regress-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store`, DICOM_MAX_ASSOCIATIONS: '1' });
    const contexts = Array.from({ length: 129 }, (_, k) => ({ id: (2 * k + 1) & 0xff, abstractSyntax: SopClass.SecondaryCapture, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }));
    const peer = await RawScu.connect(listener.port);
    peer.send(associateRq({ contexts }));
    // WHEN it waits for the answer
    const answer = await answerWithin(peer, 3_000);
    // THEN it gets one (A-ASSOCIATE-AC, -RJ or A-ABORT, or the connection closes), and another sender is served
    const other = await echoscu('127.0.0.1', listener.port, { aec: 'DICOMS3', timeoutMs: 10_000 });
    peer.destroy();
    expect(answer).not.toBe('nothing');
    expect(other.ok).toBe(true);
  });

  test('two C-STOREs pipelined in one write (no asynchronous operations negotiated) leave no partial file in the folder store', async () => {
    // GIVEN the folder store and a peer that sends command + data of two instances without waiting for the first response
    const work = await makeWorkDir('rel-regress-');
    const store = join(work, 'store');
    listener = await startListener({ STORAGE_URL: `file://${store}` });
    const peer = await RawScu.connect(listener.port);
    await peer.associate({ contexts: [{ id: 1, abstractSyntax: SopClass.SecondaryCapture, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }] });
    const [a, b] = [buildInstance(), buildInstance()];
    const message = (i: ReturnType<typeof buildInstance>, id: number) => [
      pdata(1, true, true, commandSet({ sopClassUid: SopClass.SecondaryCapture, commandField: 1, messageId: id, sopInstanceUid: i.info.sopInstanceUid, hasDataSet: true })),
      pdata(1, false, true, i.bytes.subarray(dataSetOffset(i.bytes))),
    ];
    // WHEN both go out in one write, and the association ends however the listener ends it
    peer.send(Buffer.concat([...message(a, 1), ...message(b, 2)]));
    await Promise.race([peer.closed, sleep(3_000)]);
    peer.destroy();
    await sleep(1_000);
    // THEN no temporary file stays behind (the README: "no partial file")
    expect(await partialFiles(store)).toEqual([]);
  });

  test('an A-ABORT arriving in the same segment as the data fragment that opens the object leaves no partial file in the folder store', async () => {
    // GIVEN the folder store, and a sender that starts an instance and aborts at once (an operator cancelling a send)
    const work = await makeWorkDir('rel-regress-');
    const store = join(work, 'store');
    listener = await startListener({ STORAGE_URL: `file://${store}` });
    const peer = await RawScu.connect(listener.port);
    await peer.associate({ contexts: [{ id: 1, abstractSyntax: SopClass.SecondaryCapture, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }] });
    const { bytes, info } = buildInstance();
    const dataSet = bytes.subarray(dataSetOffset(bytes));
    // WHEN the command, the first 2000 bytes of the data set (enough to name and open the object) and an A-ABORT go in one write
    peer.send(Buffer.concat([
      pdata(1, true, true, commandSet({ sopClassUid: SopClass.SecondaryCapture, commandField: 1, messageId: 1, sopInstanceUid: info.sopInstanceUid, hasDataSet: true })),
      pdata(1, false, false, dataSet.subarray(0, 2000)),
      Buffer.from([PduType.Abort, 0, 0, 0, 0, 4, 0, 0, 0, 0]),
    ]));
    await Promise.race([peer.closed, sleep(3_000)]);
    peer.destroy();
    await sleep(1_000);
    // THEN the temporary file is gone (FileObjectWriter.abort must not run before the file it removes exists)
    expect(await partialFiles(store)).toEqual([]);
  });

  test('fuzz cases 13 and 175 of seed 20260607 leave no partial file and no association counted open', async () => {
    const work = await makeWorkDir('rel-regress-');
    const store = join(work, 'store');
    listener = await startListener({ STORAGE_URL: `file://${store}`, DICOM_IDLE_TIMEOUT_SECONDS: '2', DICOM_STALL_TIMEOUT_SECONDS: '2' });
    // GIVEN the two cases that first showed the pipelining and second-A-ASSOCIATE-RQ bugs
    const cases = [13, 175].map((i) => generateCase(20260607, i));
    // WHEN they are replayed and the timeouts have passed
    for (const c of cases) await runCase(listener.port, c);
    await sleep(3_000);
    // THEN nothing is left behind
    expect({ partials: await partialFiles(store), active: await activeAssociations(listener) }, cases.map(describeCase).join('\n')).toEqual({ partials: [], active: 0 });
  });

  test('a data fragment flagged last that arrives after its C-STORE was already answered (0xC000) does not wedge the association or leak its slot', async () => {
    // GIVEN a listener allowing one association, and a C-STORE whose second of three fragments is flagged last
    const work = await makeWorkDir('rel-regress-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store`, DICOM_MAX_ASSOCIATIONS: '1', DICOM_IDLE_TIMEOUT_SECONDS: '2', DICOM_STALL_TIMEOUT_SECONDS: '2', DRAIN_TIMEOUT_SECONDS: '2' });
    const peer = await RawScu.connect(listener.port);
    await peer.associate({ contexts: [{ id: 3, abstractSyntax: SopClass.SecondaryCapture, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }] });
    const { bytes, info } = buildInstance();
    const dataSet = bytes.subarray(dataSetOffset(bytes));
    peer.send(pdata(3, true, true, commandSet({ sopClassUid: SopClass.SecondaryCapture, commandField: 1, messageId: 1, sopInstanceUid: info.sopInstanceUid, hasDataSet: true })));
    peer.send(pdata(3, false, false, dataSet.subarray(0, 1000)));
    peer.send(pdata(3, false, true, dataSet.subarray(1000, 2000)));
    // WHEN the third fragment, also flagged last, follows at once, then an A-RELEASE-RQ, then the peer disconnects
    peer.send(pdata(3, false, true, dataSet.subarray(2000)));
    const refused = await peer.readResponse(5_000).catch(() => undefined);
    await sleep(200);
    peer.send(Buffer.from([PduType.ReleaseRq, 0, 0, 0, 0, 4, 0, 0, 0, 0]));
    const answer = await answerWithin(peer, 3_000);
    peer.destroy();
    await sleep(3_000);
    // THEN the release was answered or the association aborted/closed, and the one slot is free again
    const next = await RawScu.connect(listener.port);
    const again = await next.associate({ contexts: VERIFICATION });
    next.destroy();
    expect(refused?.status).toBe(0xc000);
    expect({ answer: answer === 'nothing' ? 'no answer, association wedged' : 'answered', active: await activeAssociations(listener), nextAccepted: again.accepted })
      .toEqual({ answer: 'answered', active: 0, nextAccepted: true });
  });

  test('fuzz cases 715, 1076, 1108 and 1165 of seed 90210 (stray last fragments, found by a 10 000-case run) leave no association counted open', async () => {
    const work = await makeWorkDir('rel-regress-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store`, DICOM_IDLE_TIMEOUT_SECONDS: '2', DICOM_STALL_TIMEOUT_SECONDS: '2', DRAIN_TIMEOUT_SECONDS: '2' });
    // GIVEN the four cases of the 10 000-case run that each left an association counted open
    const cases = [715, 1076, 1108, 1165].map((i) => generateCase(90210, i));
    // WHEN they are replayed and the timeouts have passed
    await Promise.all(cases.map((c) => runCase(listener!.port, c)));
    await sleep(3_000);
    // THEN no association is counted open
    expect(await activeAssociations(listener), cases.map(describeCase).join('\n')).toBe(0);
  });

  test('a C-STORE on a refused presentation context whose data fragments keep coming in the same write does not crash the listener', async () => {
    // GIVEN an association whose only context (an unknown SOP class) was refused
    const work = await makeWorkDir('rel-regress-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store`, DRAIN_TIMEOUT_SECONDS: '2' });
    let exited: unknown;
    void listener.exited.then((e) => {
      exited = e;
    });
    const peer = await RawScu.connect(listener.port);
    await peer.associate({ contexts: [{ id: 3, abstractSyntax: '1.2.3.4.5.6.7.8.9', transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }] });
    const { bytes, info } = buildInstance();
    const dataSet = bytes.subarray(dataSetOffset(bytes));
    // WHEN a C-STORE command, a fragment, a last fragment and one more fragment arrive on it in one write
    // (found as fuzz case 46 of seed 20260607: dcmjs-dimse writes the fourth into the ended sink Writable)
    peer.send(Buffer.concat([
      pdata(3, true, true, commandSet({ sopClassUid: SopClass.SecondaryCapture, commandField: 1, messageId: 1, sopInstanceUid: info.sopInstanceUid, hasDataSet: true })),
      pdata(3, false, false, dataSet.subarray(0, 100)),
      pdata(3, false, true, dataSet.subarray(100, 200)),
      pdata(3, false, false, dataSet.subarray(200, 300)),
    ]));
    await sleep(1_000);
    peer.destroy();
    // THEN the process is still up and serving
    const health = await fetch(`http://127.0.0.1:${listener.opsPort}/healthz`).then((r) => r.status, () => 0);
    expect({ exited, health }).toEqual({ exited: undefined, health: 200 });
  });

  test('ARTIM: a connection that trickles its A-ASSOCIATE-RQ one byte every 0.5 s is closed when the ARTIM timeout expires', async () => {
    // GIVEN a 2 s ARTIM timeout
    const work = await makeWorkDir('rel-regress-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store`, DICOM_ARTIM_TIMEOUT_SECONDS: '2' });
    const peer = await RawScu.connect(listener.port);
    const rq = associateRq({ contexts: VERIFICATION });
    const started = Date.now();
    // WHEN it sends the request one byte at a time, never finishing within 8 s
    for (let i = 0; i < 16 && !peer.isClosed; i++) {
      peer.send(rq.subarray(i, i + 1));
      await sleep(500);
    }
    const closedAfter = peer.isClosed ? 'closed' : 'open';
    peer.destroy();
    // THEN the listener closed it (PS3.8 9.1.5: ARTIM runs from the transport connection to the A-ASSOCIATE-RQ, whatever arrives meanwhile)
    expect(closedAfter).toBe('closed');
    expect(Date.now() - started).toBeGreaterThan(1_500);
  });

  test('slowloris: an association that trickles a PDU one byte every 0.5 s is aborted by the idle/stall timeouts instead of holding its slot forever', async () => {
    // GIVEN 2 s idle and stall timeouts
    const work = await makeWorkDir('rel-regress-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store`, DICOM_IDLE_TIMEOUT_SECONDS: '2', DICOM_STALL_TIMEOUT_SECONDS: '2' });
    const peer = await RawScu.connect(listener.port);
    await peer.associate({ contexts: VERIFICATION });
    const echo = pdata(1, true, true, commandSet({ sopClassUid: '1.2.840.10008.1.1', commandField: 0x0030, messageId: 1, hasDataSet: false }));
    // WHEN it sends a C-ECHO-RQ one byte every 0.5 s (it would take 40 s)
    for (let i = 0; i < 20 && !peer.isClosed; i++) {
      peer.send(echo.subarray(i, i + 1));
      await sleep(500);
    }
    const state = peer.isClosed ? 'closed' : 'open';
    peer.destroy();
    // THEN within 10 s the listener has aborted it
    expect(state).toBe('closed');
  });
});
