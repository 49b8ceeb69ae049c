/**
 * The writes to one hello'd registry connection, in order: replies (each as
 * it is answered) and pushes of the room's membership. Bounded whatever the
 * client does: the connection's read loop waits for each reply to be written
 * before it reads on, so at most one reply is queued; and a push is only a
 * mark, at most one waiting, whose frames are made when its turn comes. A
 * client that reads slowly so misses the states in between and gets the
 * latest one: dropped, and resynchronised, never queued without end.
 *
 * Seed connections have no outbox: their replies are written as before.
 *
 * @module
 */

type Item =
  | {
    kind: "reply";
    frames:
      | Uint8Array
      | readonly Uint8Array[]
      | Promise<Uint8Array | readonly Uint8Array[]>
      | (() => readonly Uint8Array[]);
    done: PromiseWithResolvers<void>;
  }
  | { kind: "push" };

/** One connection's ordered writes; see the module doc. */
export class Outbox {
  readonly #conn: Deno.Conn;
  /** The frames of a push, made when it is written; null or empty: nothing to push. */
  readonly #pushFrames: () => readonly Uint8Array[] | null;
  readonly #queue: Item[] = [];
  #pushQueued = false;
  #running = false;
  #failed: Error | null = null;
  /** The first two frames last written (an `M` and its first member-info), to skip a push that repeats them. */
  #lastM: Uint8Array | null = null;
  #lastInfo: Uint8Array | null = null;

  /** Told of every `M` and its member-info once written (a reply's or a push's). */
  readonly #written: (frames: readonly Uint8Array[]) => void;

  /**
   * An outbox writing to `conn`, whose pushes are made by `pushFrames`;
   * `written` is told of each `M` (with what follows it) once written.
   */
  constructor(
    conn: Deno.Conn,
    pushFrames: () => readonly Uint8Array[] | null,
    written: (frames: readonly Uint8Array[]) => void = () => {},
  ) {
    this.#conn = conn;
    this.#pushFrames = pushFrames;
    this.#written = written;
  }

  /**
   * Writes a reply after what is queued; resolves once it is written. A
   * function makes the reply's frames when its turn comes (a reply that
   * depends on what was written before it: a keepalive's `members-delta`).
   */
  reply(
    frames:
      | Uint8Array
      | readonly Uint8Array[]
      | Promise<Uint8Array | readonly Uint8Array[]>
      | (() => readonly Uint8Array[]),
  ): Promise<void> {
    if (this.#failed !== null) return Promise.reject(this.#failed);
    const done = Promise.withResolvers<void>();
    this.#queue.push({ kind: "reply", frames, done });
    this.#run();
    return done.promise;
  }

  /** Marks a push as wanted (at most one waits); its frames are made when written. */
  push(): void {
    if (this.#failed !== null || this.#pushQueued) return;
    this.#pushQueued = true;
    this.#queue.push({ kind: "push" });
    this.#run();
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) {
        if (item.kind === "push") {
          this.#pushQueued = false;
          const frames = this.#pushFrames();
          if (frames === null || frames.length === 0) continue;
          if (frames[0] === this.#lastM && (frames[1] ?? null) === this.#lastInfo) continue;
          await this.#write(frames);
          // A push of a change (members-delta): the next whole list is no repeat.
          if (frames[0]![0] !== 0x4d) this.#lastM = this.#lastInfo = null;
          continue;
        }
        try {
          const frames = typeof item.frames === "function" ? item.frames() : await item.frames;
          await this.#write(frames instanceof Uint8Array ? [frames] : frames);
          item.done.resolve();
        } catch (error) {
          item.done.reject(error);
          throw error;
        }
      }
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#running = false;
    }
  }

  async #write(frames: readonly Uint8Array[]): Promise<void> {
    // Each frame its own write (PROTOCOL.md §8).
    for (const frame of frames) {
      let written = 0;
      while (written < frame.length) written += await this.#conn.write(frame.subarray(written));
    }
    if (frames[0]?.[0] === 0x4d) {
      this.#lastM = frames[0];
      this.#lastInfo = frames[1] ?? null;
      this.#written(frames);
    }
  }

  #fail(error: Error): void {
    this.#failed = error;
    for (const item of this.#queue.splice(0)) {
      if (item.kind === "reply") item.done.reject(error);
    }
    this.#pushQueued = false;
  }
}
