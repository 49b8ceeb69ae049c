/**
 * `deno task release`: both programs for every Deno target, packed as
 * `dist/release/ringchat-<version>-<target>.tar.gz` (`.zip` for Windows)
 * holding `registry` and `peer`, plus `dist/release/SHA256SUMS`.
 *
 * Each target's base runtime comes from `DENORT_DIR/denort-<target>[.exe]`,
 * from `DENORT_BIN` (this machine's target only), from Deno's cache or from
 * `dl.deno.land` (see `compile.ts`). When one cannot be obtained the task
 * prints one sentence saying so and how to fix it, and exits 1: a release
 * missing a platform is not a release. Binaries for this machine are run
 * with `--version` before they are packed.
 *
 * Archives are written here, without external tools: a ustar archive through
 * `CompressionStream("gzip")`, and a zip with `node:zlib`'s deflate and CRC-32.
 * Their timestamps come from `SOURCE_DATE_EPOCH` when it is set.
 *
 * @module
 */

import { join } from "node:path";
import { crc32, deflateRawSync } from "node:zlib";
import { VERSION } from "../lib/flags.ts";
import {
  BaseRuntimeUnavailableError,
  compileProgram,
  DIST_DIR,
  executableName,
  HOST_TARGET,
  megabytes,
  PROGRAMS,
  TARGETS,
  verifyVersion,
} from "./compile.ts";

/** Where `deno task release` writes archives and checksums. */
export const RELEASE_DIR: string = join(DIST_DIR, "release");

/** A file to put in an archive. */
export interface ArchiveEntry {
  name: string;
  data: Uint8Array;
  /** Unix permission bits, e.g. `0o755`. */
  mode: number;
}

/** The archive name for a target: `ringchat-0.1.0-x86_64-unknown-linux-gnu.tar.gz`. */
export function archiveName(target: string, version: string = VERSION): string {
  return `ringchat-${version}-${target}${target.includes("windows") ? ".zip" : ".tar.gz"}`;
}

const encoder = new TextEncoder();

/** Writes `value` as a NUL-terminated octal field of `length` bytes at `offset`. */
function writeOctal(header: Uint8Array, offset: number, length: number, value: number): void {
  header.set(encoder.encode(value.toString(8).padStart(length - 1, "0") + "\0"), offset);
}

/**
 * A gzip-compressed ustar archive of `entries`, regular files owned by root,
 * modified at `mtime` (seconds since the epoch).
 */
export async function tarGz(entries: readonly ArchiveEntry[], mtime: number): Promise<Uint8Array> {
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const name = encoder.encode(entry.name);
    if (name.length > 100) throw new RangeError(`Archive entry name is too long: ${entry.name}`);
    const header = new Uint8Array(512);
    header.set(name, 0);
    writeOctal(header, 100, 8, entry.mode);
    writeOctal(header, 108, 8, 0);
    writeOctal(header, 116, 8, 0);
    writeOctal(header, 124, 12, entry.data.length);
    writeOctal(header, 136, 12, mtime);
    header.fill(0x20, 148, 156); // The checksum counts its own field as spaces.
    header[156] = 0x30; // Regular file.
    header.set(encoder.encode("ustar\x0000"), 257);
    header.set(encoder.encode("root"), 265);
    header.set(encoder.encode("root"), 297);
    const sum = header.reduce((total, byte) => total + byte, 0);
    header.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    blocks.push(header, entry.data, new Uint8Array((512 - entry.data.length % 512) % 512));
  }
  blocks.push(new Uint8Array(1024));
  const stream = new Blob(blocks as BlobPart[]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** MS-DOS time and date fields of a time in seconds since the epoch (UTC). */
function dosTime(mtime: number): { time: number; date: number } {
  const d = new Date(Math.max(mtime, 315532800) * 1000); // DOS dates start in 1980.
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    date: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

/**
 * A zip archive of `entries`, deflated, modified at `mtime` (seconds since
 * the epoch), with the Unix permission bits recorded for unzip on Unix.
 */
export function zip(entries: readonly ArchiveEntry[], mtime: number): Uint8Array {
  const { time, date } = dosTime(mtime);
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = encoder.encode(entry.name);
    const compressed = deflateRawSync(entry.data);
    const crc = crc32(entry.data) >>> 0;
    const local = new Uint8Array(30 + name.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true); // Version needed: 2.0 (deflate).
    l.setUint16(8, 8, true); // Method: deflate.
    l.setUint16(10, time, true);
    l.setUint16(12, date, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, compressed.length, true);
    l.setUint32(22, entry.data.length, true);
    l.setUint16(26, name.length, true);
    local.set(name, 30);
    const header = new Uint8Array(46 + name.length);
    const c = new DataView(header.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, (3 << 8) | 20, true); // Made by Unix, so the mode below counts.
    c.setUint16(6, 20, true);
    c.setUint16(10, 8, true);
    c.setUint16(12, time, true);
    c.setUint16(14, date, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, compressed.length, true);
    c.setUint32(24, entry.data.length, true);
    c.setUint16(28, name.length, true);
    c.setUint32(38, ((0o100000 | entry.mode) << 16) >>> 0, true);
    c.setUint32(42, offset, true);
    header.set(name, 46);
    parts.push(local, compressed);
    central.push(header);
    offset += local.length + compressed.length;
  }
  const centralSize = central.reduce((total, part) => total + part.length, 0);
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, entries.length, true);
  e.setUint16(10, entries.length, true);
  e.setUint32(12, centralSize, true);
  e.setUint32(16, offset, true);
  const out = new Uint8Array(offset + centralSize + end.length);
  let at = 0;
  for (const part of [...parts, ...central, end]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Lowercase hex SHA-256 of `data`. */
export async function sha256(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The archive timestamp: `SOURCE_DATE_EPOCH`, or now. */
function archiveTime(): number {
  const epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  if (epoch !== undefined && /^\d+$/.test(epoch)) return Number(epoch);
  return Math.floor(Date.now() / 1000);
}

async function main(): Promise<number> {
  await Deno.remove(RELEASE_DIR, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  const mtime = archiveTime();
  const sums: string[] = [];
  for (const target of TARGETS) {
    const dir = join(RELEASE_DIR, target);
    await Deno.mkdir(dir, { recursive: true });
    const entries: ArchiveEntry[] = [];
    for (const program of PROGRAMS) {
      const output = join(dir, executableName(program, target));
      try {
        await compileProgram(program, { output, target });
      } catch (error) {
        if (error instanceof BaseRuntimeUnavailableError) {
          console.error(error.message);
          return 1;
        }
        throw error;
      }
      if (target === HOST_TARGET) await verifyVersion(output);
      entries.push({
        name: executableName(program, target),
        data: await Deno.readFile(output),
        mode: 0o755,
      });
    }
    const name = archiveName(target);
    const archive = target.includes("windows") ? zip(entries, mtime) : await tarGz(entries, mtime);
    await Deno.writeFile(join(RELEASE_DIR, name), archive);
    sums.push(`${await sha256(archive)}  ${name}\n`);
    console.log(`${join(RELEASE_DIR, name)}  ${megabytes(archive.length)}`);
  }
  await Deno.writeTextFile(join(RELEASE_DIR, "SHA256SUMS"), sums.join(""));
  console.log(join(RELEASE_DIR, "SHA256SUMS"));
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
