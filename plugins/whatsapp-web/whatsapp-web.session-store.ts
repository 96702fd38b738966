/**
 * A RemoteAuth store for whatsapp-web.js on the hub's MongoDB, in GridFS (works on FerretDB:
 * two plain collections, `<bucket>.files` and `<bucket>.chunks`, and ordinary indexes).
 *
 * RemoteAuth zips the browser profile to `<dataPath>/<session>.zip` and then calls
 * `save({ session })`; on start it calls `extract({ session, path })` and unzips `path`.
 * So the store must know RemoteAuth's `dataPath` to find the zip it uploads.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { MongoRuntimeError, type GridFSBucket, type ObjectId } from "mongodb";

/** The store interface RemoteAuth calls (`Store` in whatsapp-web.js's index.d.ts). */
export interface RemoteSessionStore {
  sessionExists(options: { session: string }): Promise<boolean>;
  save(options: { session: string }): Promise<void>;
  extract(options: { session: string; path: string }): Promise<void>;
  delete(options: { session: string }): Promise<void>;
}

export interface GridFsSessionStoreOptions {
  /** RemoteAuth's `dataPath`: where it writes `<session>.zip` before `save`. */
  dataPath: string;
}

export class GridFsSessionStore implements RemoteSessionStore {
  readonly #bucket: GridFSBucket;
  readonly #dataPath: string;

  constructor(bucket: GridFSBucket, options: GridFsSessionStoreOptions) {
    this.#bucket = bucket;
    this.#dataPath = options.dataPath;
  }

  async sessionExists({ session }: { session: string }): Promise<boolean> {
    const found = await this.#bucket.find({ filename: fileName(session) }, { limit: 1 }).toArray();
    return found.length > 0;
  }

  /** Uploads the new zip, then removes older versions: a crash in between leaves a usable session. */
  async save({ session }: { session: string }): Promise<void> {
    const filename = fileName(session);
    const upload = this.#bucket.openUploadStream(filename, { metadata: { session } });
    await pipeline(createReadStream(path.join(this.#dataPath, filename)), upload);
    const older = await this.#bucket.find({ filename, _id: { $ne: upload.id } }).toArray();
    for (const file of older) await this.#deleteQuietly(file._id);
  }

  /** Writes the newest saved version to `path`. */
  async extract({ session, path: target }: { session: string; path: string }): Promise<void> {
    const [newest] = await this.#bucket
      .find({ filename: fileName(session) })
      .sort({ uploadDate: -1 })
      .limit(1)
      .toArray();
    if (!newest) throw new Error(`no saved WhatsApp Web session "${session}"`);
    await mkdir(path.dirname(target), { recursive: true });
    await pipeline(this.#bucket.openDownloadStream(newest._id), createWriteStream(target));
  }

  async delete({ session }: { session: string }): Promise<void> {
    const files = await this.#bucket.find({ filename: fileName(session) }).toArray();
    for (const file of files) await this.#deleteQuietly(file._id);
  }

  async #deleteQuietly(id: ObjectId): Promise<void> {
    try {
      await this.#bucket.delete(id);
    } catch (error) {
      // Already removed by another node: GridFS reports FileNotFound; anything else is real.
      if (!(error instanceof MongoRuntimeError) || !/not found/i.test(error.message)) throw error;
    }
  }
}

function fileName(session: string): string {
  return `${session}.zip`;
}
