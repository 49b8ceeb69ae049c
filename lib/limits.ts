/**
 * The explicit limits of ringchat, in one place. Every limit a reader, a
 * registry or a peer enforces starts here; programs may lower or raise the
 * configurable ones through their options.
 *
 * @module
 */

/** Longest user name and room name, in bytes (PROTOCOL.md §6: 1–32). */
export const MAX_NAME_BYTES = 32;

/**
 * Longest `ip` field accepted in JOIN, DEPART and handshake frames, in bytes.
 * Long enough for any DNS name (253) the liberal clients of PROTOCOL.md §8 send.
 */
export const MAX_IP_BYTES = 253;

/**
 * Largest frame a registry accepts from a client. A JOIN with the longest
 * names and address is under 350 bytes; 4 KiB leaves room for liberal clients
 * while a flood of junk cannot grow a connection's buffer.
 */
export const REGISTRY_MAX_FRAME_BYTES = 4 * 1024;

/**
 * Largest frame a peer accepts from its registry connection: an `M` reply for
 * a room of 10,000 members with the longest fields (about 3 MiB), rounded up.
 */
export const REGISTRY_REPLY_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Longest chat text a peer sends or accepts, in UTF-8 bytes (64 KiB). */
export const MAX_TEXT_BYTES = 64 * 1024;

/**
 * Largest frame a peer accepts on a link: the longest text plus a generous
 * header (room, originHID, name, msgID, length and separators).
 */
export const LINK_MAX_FRAME_BYTES = MAX_TEXT_BYTES + 1024;

/**
 * Longest header of a `T` frame before its content (`T:room:hid:name:id:len:`).
 * With 32-byte names and 20-digit numbers a real header is under 140 bytes.
 */
export const MAX_TEXT_HEADER_BYTES = 512;

/**
 * Longest JSON of an `X` extension frame (PROTOCOL.md §9), in bytes (64 KiB,
 * as the longest chat text): the encoder refuses longer, the decoder rejects
 * longer with a `ProtocolError`. It bounds what one decode costs (measured:
 * 0.11 ms for 64 KiB of one string, 0.23 ms for 6,000 numbers in 29 KB, on a
 * 2-core EPYC); a reader's `maxFrameBytes` still bounds the
 * whole frame first, so a registry reads at most `REGISTRY_MAX_FRAME_BYTES` of
 * one, and an `X` of the longest JSON (header 13 bytes) fits a link's
 * `LINK_MAX_FRAME_BYTES`.
 */
export const MAX_EXTENSION_JSON_BYTES = 64 * 1024;
