import { describe, expect, test } from 'vitest';
import { WorkQueue } from '../../charts/operator/work-queue.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A handler that records calls and overlap, taking `ms` per key. */
function recorder(ms = 20) {
  const calls: string[] = [];
  const running = new Map<string, number>();
  let maxPerKey = 0;
  let maxTotal = 0;
  const handler = async (key: string) => {
    calls.push(key);
    running.set(key, (running.get(key) ?? 0) + 1);
    maxPerKey = Math.max(maxPerKey, running.get(key) ?? 0);
    maxTotal = Math.max(maxTotal, [...running.values()].reduce((a, b) => a + b, 0));
    await sleep(ms);
    running.set(key, (running.get(key) ?? 1) - 1);
  };
  return { handler, calls, overlap: () => ({ maxPerKey, maxTotal }) };
}

describe('WorkQueue', () => {
  test('coalesces events for a key that is waiting', async () => {
    // GIVEN the only worker busy with one key, and three adds of another meanwhile
    const { handler, calls } = recorder();
    const queue = new WorkQueue(handler);
    queue.add('dicom/busy');
    queue.add('dicom/a');
    queue.add('dicom/a');
    queue.add('dicom/a');
    expect(queue.length).toBe(2);
    await queue.idle();
    // THEN the waiting key was handled once
    expect(calls).toEqual(['dicom/busy', 'dicom/a']);
  });

  test('never handles one key twice at once, even with several workers; an event during a reconcile queues one more', async () => {
    // GIVEN four workers and a slow handler
    const { handler, calls, overlap } = recorder(30);
    const queue = new WorkQueue(handler, { workers: 4 });
    // WHEN the same key is added while it is being handled, repeatedly
    queue.add('dicom/a');
    await sleep(5);
    queue.add('dicom/a');
    queue.add('dicom/a');
    queue.add('dicom/b');
    await queue.idle();
    // THEN it ran twice, one after the other, while another key ran beside it
    expect(calls.filter((key) => key === 'dicom/a')).toHaveLength(2);
    expect(overlap()).toEqual({ maxPerKey: 1, maxTotal: 2 });
  });

  test('runs different keys side by side, up to the number of workers', async () => {
    const { handler, overlap } = recorder(30);
    const queue = new WorkQueue(handler, { workers: 2 });
    for (const key of ['n/a', 'n/b', 'n/c', 'n/d']) queue.add(key);
    await queue.idle();
    expect(overlap().maxTotal).toBe(2);
  });

  test('retries back off exponentially per key, up to the cap, and success forgets them', () => {
    const queue = new WorkQueue(async () => {}, { retryBaseMs: 100, retryMaxMs: 500 });
    // GIVEN repeated failures of one key THEN the delays double to the cap
    expect([1, 2, 3, 4, 5].map(() => queue.addRateLimited('n/a'))).toEqual([100, 200, 400, 500, 500]);
    // AND another key starts from the base
    expect(queue.addRateLimited('n/b')).toBe(100);
    // AND after forget, the first key does too
    queue.forget('n/a');
    expect(queue.addRateLimited('n/a')).toBe(100);
    void queue.shutdown();
  });

  test('a delayed add runs after its delay; an earlier one replaces a later one', async () => {
    const { handler, calls } = recorder(1);
    const queue = new WorkQueue(handler);
    const started = Date.now();
    queue.addAfter('n/a', 300);
    queue.addAfter('n/a', 50);
    await sleep(120);
    // THEN it ran once, at the earlier time
    expect(calls).toEqual(['n/a']);
    expect(Date.now() - started).toBeLessThan(300);
    await sleep(250);
    expect(calls).toEqual(['n/a']);
  });

  test('a handler that throws does not stop the queue', async () => {
    const calls: string[] = [];
    const queue = new WorkQueue(async (key) => {
      calls.push(key);
      if (key === 'n/bad') throw new Error('boom');
    });
    queue.add('n/bad');
    queue.add('n/good');
    await queue.idle();
    expect(calls).toEqual(['n/bad', 'n/good']);
  });

  test('shutdown waits for the reconcile in flight and drops the rest', async () => {
    const { handler, calls } = recorder(40);
    const queue = new WorkQueue(handler);
    queue.add('n/a');
    queue.add('n/b');
    queue.addAfter('n/c', 10);
    await sleep(5);
    await queue.shutdown();
    await sleep(30);
    expect(calls).toEqual(['n/a']);
    expect(queue.length).toBe(0);
  });
});
