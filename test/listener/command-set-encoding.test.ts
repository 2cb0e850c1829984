import dimse from 'dcmjs-dimse';
import { describe, expect, test } from 'vitest';
import { installCompactCommandSetEncoding } from '../../listener/dicom/command-set-encoding.ts';

const { Dataset, requests, responses, constants } = dimse;
type Response = InstanceType<typeof responses.Response>;

// Captured before installing, so every case compares against dcmjs-dimse's own encoder.
const original = Dataset.prototype.getDenaturalizedCommandDataset;
installCompactCommandSetEncoding();
const compact = Dataset.prototype.getDenaturalizedCommandDataset;

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

  test('given the encoding is installed, when it is installed again, then the encoder stays the compact one', () => {
    installCompactCommandSetEncoding();

    expect(Dataset.prototype.getDenaturalizedCommandDataset).toBe(compact);
    expect(compact).not.toBe(original);
  });
});
