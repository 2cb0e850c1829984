import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildInstance, dataSetOffset, readDataSet } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { commandSet, pdu, PduType, RawScu } from '../support/raw-scu.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

const SC = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const CONTEXT = 1;

/** One PDV item: the PDU layer frames these, several to a P-DATA-TF if the sender likes. */
function pdv(command: boolean, last: boolean, value: Buffer): Buffer {
  const header = Buffer.alloc(6);
  header.writeUInt32BE(value.length + 2, 0);
  header.writeUInt8(CONTEXT, 4);
  header.writeUInt8((command ? 1 : 0) | (last ? 2 : 0), 5);
  return Buffer.concat([header, value]);
}

/** Splits `dataSet` into fragments of the given sizes; the last takes the rest. */
function fragments(dataSet: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (const size of sizes) {
    out.push(dataSet.subarray(offset, offset + size));
    offset += size;
  }
  out.push(dataSet.subarray(offset));
  return out;
}

/**
 * The listener streams a data PDV that fills its PDU straight to storage and hands the DIMSE
 * library everything else. However a sender groups fragments into PDUs, the stored data set
 * must be the one sent, and the association must stay usable.
 */
describe('however the sender frames its data PDVs, the stored data set is the one sent', () => {
  let work: string;
  let listener: ListenerProcess;
  let scu: RawScu;

  beforeAll(async () => {
    work = await makeWorkDir('pdv-framing-');
    listener = await startListener({ STORAGE_URL: `file://${work}/store` });
    scu = await RawScu.connect(listener.port);
    const association = await scu.associate({ contexts: [{ id: CONTEXT, abstractSyntax: SC, transferSyntaxes: [EXPLICIT_LE] }] });
    expect(association.accepted).toBe(true);
  });

  afterAll(async () => {
    scu?.destroy();
    await listener?.stop();
    await removeWorkDir(work);
  });

  /** Sends the command, then each group of fragments as one P-DATA-TF, all in one write. */
  async function store(groups: (dataSet: Buffer) => Buffer[][]): Promise<{ status: number | undefined; sent: Buffer; stored: Buffer | undefined }> {
    const { bytes, info } = buildInstance({ rows: 256, columns: 256 });
    const dataSet = bytes.subarray(dataSetOffset(bytes));
    const command = commandSet({ sopClassUid: SC, commandField: 0x0001, messageId: scu.nextMessageId(), sopInstanceUid: info.sopInstanceUid, hasDataSet: true });
    const grouped = groups(dataSet);
    const pdus = grouped.map((group, g) =>
      pdu(PduType.PData, Buffer.concat(group.map((value, i) => pdv(false, g === grouped.length - 1 && i === group.length - 1, value)))));
    scu.send(Buffer.concat([pdu(PduType.PData, pdv(true, true, command)), ...pdus]));
    const response = await scu.readResponse();
    const files = (await readdir(join(work, 'store'), { recursive: true })).map(String).filter((name) => name.includes(info.sopInstanceUid));
    const stored = files.length === 1 ? await readDataSet(join(work, 'store', files[0]!)) : undefined;
    return { status: response?.status, sent: dataSet, stored };
  }

  test('one data PDV per PDU, PDUs cut mid-header by the socket, is stored byte for byte', async () => {
    // GIVEN fragments of odd sizes, one per P-DATA-TF, all written at once
    // WHEN they are sent
    const result = await store((dataSet) => fragments(dataSet, [5, 16_001, 7, 40_000, 3]).map((value) => [value]));
    // THEN Success, and the stored data set is the sent one
    expect(result.status).toBe(0x0000);
    expect(result.stored?.equals(result.sent)).toBe(true);
  });

  test('several data PDVs in one PDU are stored in order', async () => {
    const result = await store((dataSet) => {
      const [a, b, c, d, e] = fragments(dataSet, [1000, 2000, 30_000, 500]);
      return [[a!], [b!, c!], [d!, e!]];
    });
    expect(result.status).toBe(0x0000);
    expect(result.stored?.equals(result.sent)).toBe(true);
  });

  test('a last fragment with no value ends the data set', async () => {
    const result = await store((dataSet) => [[dataSet.subarray(0, 60_000)], [dataSet.subarray(60_000)], [Buffer.alloc(0)]]);
    expect(result.status).toBe(0x0000);
    expect(result.stored?.equals(result.sent)).toBe(true);
  });

  test('empty fragments in the middle change nothing', async () => {
    const result = await store((dataSet) => [[dataSet.subarray(0, 100)], [Buffer.alloc(0)], [dataSet.subarray(100, 50_000)], [Buffer.alloc(0)], [dataSet.subarray(50_000)]]);
    expect(result.status).toBe(0x0000);
    expect(result.stored?.equals(result.sent)).toBe(true);
  });

  test('a request in the same PDU as the last fragment of the instance before is answered after it, and both are stored', async () => {
    // GIVEN two instances, the second's C-STORE-RQ in the PDU that ends the first's data set
    const [first, second] = [1, 2].map(() => {
      const { bytes, info } = buildInstance({ rows: 128, columns: 128 });
      const command = commandSet({ sopClassUid: SC, commandField: 0x0001, messageId: scu.nextMessageId(), sopInstanceUid: info.sopInstanceUid, hasDataSet: true });
      return { dataSet: bytes.subarray(dataSetOffset(bytes)), command, uid: info.sopInstanceUid };
    });
    // WHEN they are sent in one write, as a sender that does not wait for answers would
    scu.send(Buffer.concat([
      pdu(PduType.PData, pdv(true, true, first!.command)),
      pdu(PduType.PData, Buffer.concat([pdv(false, true, first!.dataSet), pdv(true, true, second!.command)])),
      pdu(PduType.PData, pdv(false, true, second!.dataSet)),
    ]));
    const responses = [await scu.readResponse(), await scu.readResponse()];
    // THEN each is answered Success, in order, and stored as sent
    expect(responses.map((r) => r?.status)).toEqual([0x0000, 0x0000]);
    for (const { uid, dataSet } of [first!, second!]) {
      const files = (await readdir(join(work, 'store'), { recursive: true })).map(String).filter((name) => name.includes(uid));
      expect(files).toHaveLength(1);
      expect((await readDataSet(join(work, 'store', files[0]!))).equals(dataSet)).toBe(true);
    }
  });

  test('after an instance whose last fragment shared a PDU, the next instance on the association is stored whole', async () => {
    // GIVEN an instance ended by a PDU holding two data PDVs (the library's path, not the streamed one)
    const first = await store((dataSet) => {
      const [a, b, c] = fragments(dataSet, [20_000, 20_000]);
      return [[a!], [b!, c!]];
    });
    expect(first.status).toBe(0x0000);
    // WHEN another instance follows, one PDV per PDU
    const second = await store((dataSet) => fragments(dataSet, [10_000, 10_000, 10_000]).map((value) => [value]));
    // THEN both are stored as sent
    expect(first.stored?.equals(first.sent)).toBe(true);
    expect(second.status).toBe(0x0000);
    expect(second.stored?.equals(second.sent)).toBe(true);
  });
});
