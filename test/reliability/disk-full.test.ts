// Disk full for the local-folder store: the listener runs on a 4 MiB tmpfs (in a mount
// namespace of its own, see tmpfs-listener.ts). What does not fit is refused with 0xA700,
// no partial file is left, what was acknowledged is there byte for byte, and once space is
// freed the resend succeeds.
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeInstance, newUid } from '../support/dicom-file.ts';
import { storescu } from '../support/dcmtk.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';
import { attemptsFrom, checkInvariants, fileView, storescuResend, type Sent } from './harness.ts';

describe('disk full under the local-folder store', () => {
  let work: string;
  let store: string;
  let listener: ListenerProcess;
  let root: string;
  let instances: Sent[];

  beforeAll(async () => {
    work = await makeWorkDir('rel-disk-full-');
    store = join(work, 'store');
    await mkdir(store);
    listener = await startListener({ STORAGE_URL: `file://${store}`, TMPFS_DIR: store, TMPFS_SIZE: '4m' }, { entry: 'test/reliability/tmpfs-listener.ts' });
    const pid = Number((await listener.waitForLog((l) => l['event'] === 'tmpfs-listener'))['pid']);
    // The listener's view of the folder: the tmpfs is mounted in its namespace only.
    root = `/proc/${pid}/root${store}`;
    // Six 590 KB instances of one study: 3.5 MB in all.
    const study = newUid();
    const series = newUid();
    instances = [];
    for (let i = 0; i < 6; i++) {
      instances.push(await writeInstance(join(work, `i${i}.dcm`), { studyInstanceUid: study, seriesInstanceUid: series, rows: 768, columns: 768, instanceNumber: i + 1, seed: i + 1 }));
    }
  });

  afterAll(async () => {
    await listener?.stop();
    await removeWorkDir(work);
  });

  test('the store really is a 4 MiB tmpfs, seen only by the listener', async () => {
    // GIVEN the listener started through tmpfs-listener.ts
    const pid = Number(listener.logs.find((l) => l['event'] === 'tmpfs-listener')?.['pid']);
    // WHEN its mount table and ours are read
    const mounts = await readFile(`/proc/${pid}/mountinfo`, 'utf8');
    // THEN its folder is a tmpfs there, and nothing is mounted on it here
    expect(mounts.split('\n').some((line) => line.includes(` ${store} `) && line.includes(' - tmpfs '))).toBe(true);
    expect((await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${store} `)).toBe(false);
  });

  test('what does not fit is refused with 0xA700 and leaves no partial file; freeing space lets the resend complete the study', async () => {
    // GIVEN 2 MiB of the 4 MiB already taken
    await writeFile(join(root, 'ballast.bin'), Buffer.alloc(2 * 1024 * 1024, 1));
    // WHEN a 3.5 MB study is sent
    const result = await storescu('127.0.0.1', listener.port, instances.map((i) => i.path), { aec: 'DICOMS3', noHalt: true });
    const attempts = attemptsFrom(instances, result.files);
    const partialsRightAway = await fileView(root).openUploads();
    // THEN the ones that do not fit get 0xA700, with ENOSPC as the logged reason, and no partial file remains
    const failures = listener.logs.filter((l) => l['event'] === 'store-failed');
    expect(attempts.filter((a) => a.status === 0).length).toBeGreaterThan(0);
    expect(attempts.filter((a) => a.status !== 0).map((a) => a.status)).toEqual(expect.arrayContaining([0xa700]));
    expect(attempts.every((a) => a.status === 0 || a.status === 0xa700)).toBe(true);
    expect(failures.every((l) => l['status'] === '0xA700' && String(l['detail']).includes('ENOSPC'))).toBe(true);
    expect(partialsRightAway).toEqual([]);
    // AND once the ballast is removed, the invariants hold and the resend stores the rest
    await rm(join(root, 'ballast.bin'));
    const { figures, violations } = await checkInvariants({ scenario: 'disk-full-tmpfs-4MiB', store: fileView(root), attempts, listener, resend: storescuResend(listener.port) });
    expect(violations).toEqual([]);
    expect(figures).toMatchObject({ lost: 0, orphanedUploads: 0, complete: true });
    expect(figures.failedAsReported).toBeGreaterThan(0);
  });
});
