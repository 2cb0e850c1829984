import { createRequire } from 'node:module';
import dimse from 'dcmjs-dimse';
import { describe, expect, test } from 'vitest';
import { installCommandSetCodec } from '../../listener/dicom/command-set-codec.ts';

const { Dataset, requests, responses, constants } = dimse;
type Response = InstanceType<typeof responses.Response>;
type Dataset = InstanceType<typeof Dataset>;
type Elements = Record<string, unknown>;
type ElementsParser = (this: Dataset, buffer: Buffer, transferSyntaxUid: string, options: Elements) => Elements;
const parsing = Dataset.prototype as Dataset & { _fromElementsBuffer: ElementsParser };
const IMPLICIT_VR_LITTLE_ENDIAN = constants.TransferSyntax.ImplicitVRLittleEndian;

// Captured before installing, so every case compares against dcmjs-dimse's own encoder and reader.
const original = Dataset.prototype.getDenaturalizedCommandDataset;
const originalRead = parsing._fromElementsBuffer;
installCommandSetCodec();
const compact = Dataset.prototype.getDenaturalizedCommandDataset;
const compactRead = parsing._fromElementsBuffer;

/** dcmjs as dcmjs-dimse uses it: its element reader, so a test can count its calls, and its logger. */
const dcmjs = createRequire(createRequire(import.meta.url).resolve('dcmjs-dimse'))('dcmjs') as {
  data: { DicomMessage: { _read: (...args: unknown[]) => unknown } };
  log: { getLevel(): number; setLevel(level: number | 'silent'): void };
};
const { DicomMessage } = dcmjs.data;

function dcmjsReadsDuring(run: () => void): number {
  const real = DicomMessage._read;
  let calls = 0;
  DicomMessage._read = (...args: unknown[]) => {
    calls++;
    return real.apply(DicomMessage, args);
  };
  try {
    run();
  } finally {
    DicomMessage._read = real;
  }
  return calls;
}

function cStoreRequest(sopInstanceUid: string, moveOriginator?: [string, number]): Dataset {
  const request = new requests.CStoreRequest(new Dataset({ SOPClassUID: CT_IMAGE_STORAGE_UID, SOPInstanceUID: sopInstanceUid }));
  request.setMessageId(41);
  const command = request.getCommandDataset();
  if (moveOriginator) {
    const elements = command.getElements() as Elements;
    elements['MoveOriginatorApplicationEntityTitle'] = moveOriginator[0];
    elements['MoveOriginatorMessageID'] = moveOriginator[1];
  }
  return command;
}

const CT_IMAGE_STORAGE_UID = '1.2.840.10008.5.1.4.1.1.2';

/** The bytes of (0000,eeee) in Implicit VR Little Endian, for hand-made command sets. */
function element(elementNumber: number, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(elementNumber, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}

const read = (reader: ElementsParser, buffer: Buffer) => reader.call(new Dataset({}), buffer, IMPLICIT_VR_LITTLE_ENDIAN, { ignoreErrors: true });

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

function cStoreResponse(sopInstanceUid: string, status: number, comment?: string): Response {
  const request = new requests.CStoreRequest(new Dataset({ SOPClassUID: CT_IMAGE_STORAGE, SOPInstanceUID: sopInstanceUid }));
  request.setMessageId(7);
  const response = responses.CStoreResponse.fromRequest(request);
  response.setStatus(status);
  if (comment !== undefined) response.setErrorComment(comment);
  return response;
}

function cEchoResponse(): Response {
  const request = new requests.CEchoRequest();
  request.setMessageId(300);
  const response = responses.CEchoResponse.fromRequest(request);
  response.setStatus(constants.Status.Success);
  return response;
}

function cMoveResponse(): Response {
  const request = requests.CMoveRequest.createStudyMoveRequest('STORESCP', '1.2.3');
  request.setMessageId(12);
  const response = responses.CMoveResponse.fromRequest(request);
  response.setStatus(constants.Status.Pending);
  response.setRemaining(3);
  response.setCompleted(2);
  response.setFailures(1);
  response.setWarnings(0);
  return response;
}

const encode = (encoder: typeof original, response: Response) => encoder.call(response.getCommandDataset());

/** The largest ArrayBuffer constructed while run() runs; dcmjs allocates its stream chunks with new ArrayBuffer. */
function largestArrayBufferDuring(run: () => void): number {
  const sizes: number[] = [];
  const real = globalThis.ArrayBuffer;
  globalThis.ArrayBuffer = new Proxy(real, {
    construct(target, args, newTarget) {
      sizes.push(Number(args[0] ?? 0));
      return Reflect.construct(target, args, newTarget) as object;
    },
  });
  try {
    run();
  } finally {
    globalThis.ArrayBuffer = real;
  }
  return Math.max(0, ...sizes);
}

describe('compact command set encoding', () => {
  test.each([
    ['a successful C-STORE-RSP with an odd-length UID', () => cStoreResponse('1.2.826.0.1.3680043.2.1125.1.42', 0x0000)],
    ['a successful C-STORE-RSP with an even-length UID', () => cStoreResponse('1.2.826.0.1.3680043.2.1125.1.4', 0x0000)],
    ['a 0xA700 C-STORE-RSP with an odd-length error comment', () => cStoreResponse('1.2.3.4', 0xa700, 'Storage unavailable; retry soon')],
    ['a 0xC000 C-STORE-RSP with an even-length error comment', () => cStoreResponse('1.2.3.45', 0xc000, 'Data set header cannot be parsed')],
    ['a C-STORE-RSP whose command set spans several 1 KiB chunks', () => cStoreResponse('1.2.3.4', 0xa700, 'x'.repeat(2501))],
    ['a C-ECHO-RSP', cEchoResponse],
    ['a 0xB000 C-STORE-RSP (a warning)', () => cStoreResponse('1.2.3.4.5.6', 0xb000)],
    ['a C-MOVE-RSP with sub-operation counts', cMoveResponse],
    // Outside the directly encoded cases, so dcmjs encodes them:
    ['an error comment with trailing space', () => cStoreResponse('1.2.3.4', 0xa700, 'Storage unavailable ')],
    ['an error comment with a value separator', () => cStoreResponse('1.2.3.4', 0xa700, 'left\\right')],
    ['an error comment outside ASCII', () => cStoreResponse('1.2.3.4', 0xa700, 'Speicher überlastet')],
  ])('given %s, when its command set is encoded, then the bytes equal dcmjs-dimse\'s own encoding', (_, build) => {
    const response = build();

    const bytes = encode(compact, response);

    expect(bytes.equals(encode(original, response))).toBe(true);
  });

  test('given a C-STORE-RSP, when its command set is encoded, then it is written directly, without dcmjs streams', () => {
    const response = cStoreResponse('1.2.3.4', 0xa700, 'Storage unavailable; retry later');

    const largest = largestArrayBufferDuring(() => encode(compact, response));

    expect(largestArrayBufferDuring(() => encode(original, response))).toBe(256 * 1024);
    expect(largest).toBe(0);
  });

  test('given a command set outside the direct cases, when it is encoded, then dcmjs writes it on 1 KiB streams, not 256 KiB', () => {
    const response = cStoreResponse('1.2.3.4', 0xa700, 'Speicher überlastet');

    const largest = largestArrayBufferDuring(() => encode(compact, response));

    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThanOrEqual(1024);
  });

  test('given the codec is installed, when it is installed again, then the encoder and reader stay the direct ones', () => {
    installCommandSetCodec();

    expect(Dataset.prototype.getDenaturalizedCommandDataset).toBe(compact);
    expect(parsing._fromElementsBuffer).toBe(compactRead);
    expect(compact).not.toBe(original);
    expect(compactRead).not.toBe(originalRead);
  });
});

describe('direct command set reading', () => {
  const encoded = (command: Dataset) => original.call(command);
  const uid = (text: string) => Buffer.from(text, 'latin1');

  test.each([
    ['a C-STORE-RQ with an odd-length UID', () => encoded(cStoreRequest('1.2.826.0.1.3680043.2.1125.1.42'))],
    ['a C-STORE-RQ with an even-length UID', () => encoded(cStoreRequest('1.2.826.0.1.3680043.2.1125.1.4'))],
    ['a C-STORE-RQ on behalf of a C-MOVE (odd AE title)', () => encoded(cStoreRequest('1.2.3.4', ['PACS1', 77]))],
    ['a C-STORE-RQ on behalf of a C-MOVE (even AE title)', () => encoded(cStoreRequest('1.2.3.4', ['ARCHIVE1', 78]))],
    ['a C-ECHO-RQ', () => { const request = new requests.CEchoRequest(); request.setMessageId(3); return encoded(request.getCommandDataset()); }],
    ['a C-STORE-RSP with an error comment', () => encoded(cStoreResponse('1.2.3.4', 0xa700, 'Storage unavailable; retry later').getCommandDataset())],
    // Outside the direct cases, so dcmjs reads them:
    ['a UID padded with a space instead of NUL', () => Buffer.concat([element(0x0000, Buffer.from([20, 0, 0, 0])), element(0x0002, uid('1.2.3 ')), element(0x0100, Buffer.from([0x30, 0]))])],
    ['an AE title with leading spaces', () => Buffer.concat([element(0x1030, uid('  PACS')), element(0x0100, Buffer.from([1, 0]))])],
    ['an element of another group (a data set)', () => Buffer.from([0x08, 0, 0x18, 0, 6, 0, 0, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0])],
    ['a US element of the wrong length', () => element(0x0100, Buffer.from([1, 0, 0, 0]))],
    ['an element cut short', () => element(0x0002, uid('1.2.3.4')).subarray(0, 12)],
  ])('given %s, when it is read, then the elements equal what dcmjs reads', (_, build) => {
    const buffer = build();

    const elements = read(compactRead, buffer);

    expect(elements).toStrictEqual(read(originalRead, buffer));
  });

  test('given 2000 seeded random corruptions of command sets, when one is read directly, then it is what dcmjs reads', () => {
    const seeds = [encoded(cStoreRequest('1.2.826.0.1.3680043.2.1125.1.42', ['PACS1', 77])), encoded(cStoreResponse('1.2.3.4', 0xa700, 'Storage unavailable').getCommandDataset())];
    let state = 20261128;
    const random = (below: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % below;
    };
    const outcome = (reader: ElementsParser, buffer: Buffer) => {
      try {
        return read(reader, buffer);
      } catch (error) {
        return `threw ${(error as Error).name}`;
      }
    };
    // dcmjs warns, with a stack trace, about every element it cannot read; under vitest each
    // trace is source-mapped through dcmjs's bundle, which costs ~0.1 s.
    const level = dcmjs.log.getLevel();
    const traceLimit = Error.stackTraceLimit;
    dcmjs.log.setLevel('silent');
    Error.stackTraceLimit = 0;
    try {
      let direct = 0;
      for (let i = 0; i < 2000; i++) {
        const buffer = Buffer.from(seeds[i % seeds.length]!);
        for (let flips = 1 + random(3); flips > 0; flips--) buffer[random(buffer.length)] = random(4) === 0 ? random(256) : buffer[random(buffer.length)]!;
        const cut = random(8) === 0 ? buffer.subarray(0, random(buffer.length)) : buffer;

        let elements: unknown;
        // What the codec hands to dcmjs is read by dcmjs itself: only its own answers need checking.
        if (dcmjsReadsDuring(() => (elements = outcome(compactRead, cut))) > 0) continue;
        direct++;
        expect(elements).toStrictEqual(outcome(originalRead, cut));
      }
      expect(direct).toBeGreaterThan(200);
    } finally {
      dcmjs.log.setLevel(level);
      Error.stackTraceLimit = traceLimit;
    }
  });

  test('given a C-STORE-RQ, when dcmjs-dimse reads its command set, then dcmjs is not involved', () => {
    const buffer = encoded(cStoreRequest('1.2.3.4.5', ['PACS', 9]));

    const reads = dcmjsReadsDuring(() => new Dataset(buffer, IMPLICIT_VR_LITTLE_ENDIAN));

    expect(reads).toBe(0);
    expect(dcmjsReadsDuring(() => read(originalRead, buffer))).toBe(1);
  });

  test('given a data set buffer, when dcmjs-dimse reads it, then dcmjs reads it', () => {
    const buffer = Buffer.from([0x08, 0, 0x18, 0, 6, 0, 0, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0]);

    const reads = dcmjsReadsDuring(() => new Dataset(buffer, IMPLICIT_VR_LITTLE_ENDIAN));

    expect(reads).toBe(1);
  });
});
