import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { describe, expect, test, vi } from 'vitest';
import { InstanceReceiver, type FlowControl } from '../../listener/instance-receiver.ts';
import type { ObjectWriter, Storage } from '../../listener/storage/storage.ts';
import { buildInstance, dataSetOffset } from '../support/dicom-file.ts';

/** Counts what the receiver asks of the transport. */
class CountingFlow implements FlowControl {
  pauses = 0;
  resumes = 0;
  pause(): void {
    this.pauses += 1;
  }
  resume(): void {
    this.resumes += 1;
  }
}

/** A store whose writes complete only when the test says so: storage slower than the sender. */
function heldStorage(): { storage: Storage; completeWrites(): void } {
  const pending: (() => void)[] = [];
  let held = true;
  let stream: Writable | undefined;
  const storage: Storage = {
    description: 'held',
    prefix: '',
    open(key): ObjectWriter {
      stream = new Writable({ highWaterMark: 1024, write: (_chunk, _encoding, callback) => (held ? pending.push(() => callback()) : callback()) });
      const writer = stream;
      return {
        stream: writer,
        commit: async () => {
          await finished(writer);
          return { location: key, key, bytes: 0 };
        },
        abort: async () => undefined,
      };
    },
    close: async () => undefined,
  };
  const completeWrites = () => {
    held = false;
    for (const complete of pending.splice(0)) complete();
  };
  return { storage, completeWrites };
}

describe('InstanceReceiver flow control', () => {
  test('a pause for back-pressure on the last write is released once the data set ends, though the store never drains', async () => {
    // GIVEN a store that accepts the data set only after it has ended (a Writable never emits
    // 'drain' once ending, so the receiver cannot wait for one)
    const { bytes, info } = buildInstance({ rows: 64, columns: 64 });
    const dataSet = bytes.subarray(dataSetOffset(bytes));
    const { storage, completeWrites } = heldStorage();
    const flow = new CountingFlow();
    const receiver = new InstanceReceiver(
      {
        sopClassUid: info.sopClassUid,
        sopInstanceUid: info.sopInstanceUid,
        transferSyntaxUid: '1.2.840.10008.1.2.1',
        callingAeTitle: 'SCU',
        calledAeTitle: 'DICOMS3',
        receivedAt: new Date(),
        studyInstanceUid: undefined,
        seriesInstanceUid: undefined,
      },
      { storage, keyTemplate: '{SOPInstanceUID}.dcm' },
      flow,
      Number.MAX_SAFE_INTEGER,
      ROOT_CONTEXT,
    );
    // WHEN the whole data set is written, the store pushes back, and the data set ends
    receiver.end(dataSet);
    const result = receiver.result();
    await vi.waitFor(() => expect(flow.pauses).toBe(1));
    completeWrites();
    // THEN the instance is stored and every pause has been matched by a resume
    expect((await result).outcome.status).toBe(0x0000);
    expect(flow.resumes).toBe(flow.pauses);
  });
});
