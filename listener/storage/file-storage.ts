import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { StorageUnavailableError } from '../errors.ts';
import type { InstanceDescriptor, ObjectWriter, Storage, StoredObject } from './storage.ts';

function asStorageError(error: unknown): StorageUnavailableError {
  if (error instanceof StorageUnavailableError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
  return new StorageUnavailableError(`local store ${code}: ${(error as Error).message}`, { cause: error });
}

/**
 * The embedded default store: a folder. Each instance goes to a hidden temporary file beside
 * its final name, is fsynced, renamed into place and its folder fsynced, so a crash leaves
 * either the whole previous object or the whole new one, never a torn one.
 */
export class FileStorage implements Storage {
  readonly description: string;
  readonly prefix = '';
  readonly #root: string;

  constructor(root: string) {
    this.#root = path.resolve(root);
    this.description = `file://${this.#root}`;
  }

  open(key: string, _instance: InstanceDescriptor): ObjectWriter {
    const target = path.resolve(this.#root, key);
    if (!target.startsWith(this.#root + path.sep)) throw new Error(`key ${key} escapes the store root`);
    return new FileObjectWriter(key, target);
  }

  async close(_deadline: number): Promise<void> {}
}

class FileObjectWriter implements ObjectWriter {
  readonly stream: Writable;
  readonly #key: string;
  readonly #target: string;
  readonly #temporary: string;
  #bytes = 0;
  /** Opened at once, not in a stream `construct`: that runs a tick later, after an abort could already have cleaned up. */
  readonly #opened: Promise<fs.FileHandle>;

  constructor(key: string, target: string) {
    this.#key = key;
    this.#target = target;
    this.#temporary = path.join(path.dirname(target), `.${path.basename(target)}.${crypto.randomUUID()}.partial`);
    this.#opened = openCreatingFolder(this.#temporary);
    this.#opened.catch(() => undefined);
    this.stream = new Writable({
      highWaterMark: 1024 * 1024,
      writev: (chunks, callback) => {
        const buffers = chunks.map(({ chunk }) => chunk as Buffer);
        for (const buffer of buffers) this.#bytes += buffer.length;
        this.#writeAll(buffers).then(() => callback(), (error: unknown) => callback(asStorageError(error)));
      },
    });
  }

  async #writeAll(buffers: Buffer[]): Promise<void> {
    const handle = await this.#opened;
    let pending = buffers;
    while (pending.length > 0) {
      const { bytesWritten } = await handle.writev(pending);
      pending = remainder(pending, bytesWritten);
    }
  }

  async commit(): Promise<StoredObject> {
    try {
      await finished(this.stream);
      const handle = await this.#opened;
      await handle.sync();
      await handle.close();
      await fs.rename(this.#temporary, this.#target);
      const directory = await fs.open(path.dirname(this.#target), 'r');
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
    } catch (error) {
      await this.abort(error as Error);
      throw asStorageError(error);
    }
    return { location: this.#target, key: this.#key, bytes: this.#bytes };
  }

  async abort(_reason: Error): Promise<void> {
    this.stream.destroy();
    // The temporary file may still be being created; remove it only once that has settled.
    const handle = await this.#opened.catch(() => undefined);
    await handle?.close().catch(() => undefined);
    await fs.rm(this.#temporary, { force: true }).catch(() => undefined);
  }
}

/** Most instances go to a folder that already exists, so the folder is made only when the open says it is missing. */
async function openCreatingFolder(file: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(file, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await fs.mkdir(path.dirname(file), { recursive: true });
    return fs.open(file, 'wx');
  }
}

/** The buffers left after a partial vectored write of `written` bytes. */
function remainder(buffers: Buffer[], written: number): Buffer[] {
  let skip = written;
  const rest: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}
