import { deepEqual, equal, throws } from "node:assert/strict";
import { encodeFrame, type Member } from "../lib/frames.ts";
import type { PeerEvent } from "../peer/events.ts";
import { bindOnePort, bindPeerPort } from "../peer/one_port.ts";
import { resolvePeerOptions } from "../peer/options.ts";

function udp(port: number): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
}

Deno.test("one port: TCP and UDP are bound on the same number", () => {
  const [listener, socket] = bindOnePort("127.0.0.1", 0, udp);
  try {
    equal((socket.addr as Deno.NetAddr).port, listener.addr.port);
  } finally {
    listener.close();
    socket.close();
  }
});

Deno.test("one port: a given port taken for UDP fails and leaves TCP free", () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  let tries = 0;
  throws(() =>
    bindOnePort("127.0.0.1", port, () => {
      tries++;
      throw new Deno.errors.AddrInUse("Taken");
    }), Deno.errors.AddrInUse);
  equal(tries, 1, "a given port is not swapped for another");
  Deno.listen({ hostname: "127.0.0.1", port }).close();
});

Deno.test("one port: with port 0, a number taken for UDP is skipped for another", () => {
  let tries = 0;
  const [listener, port] = bindOnePort("127.0.0.1", 0, (p) => {
    if (++tries < 3) throw new Deno.errors.AddrInUse("Taken");
    return p;
  });
  listener.close();
  equal(tries, 3);
  equal(port, listener.addr.port);
});

Deno.test("one port: a peer's port shows a member's poke by name and a stranger's by address", async () => {
  const events: PeerEvent[] = [];
  const bob = udp(0);
  const stranger = udp(0);
  const portOf = (socket: Deno.DatagramConn) => (socket.addr as Deno.NetAddr).port;
  const members: Member[] = [{ name: "bob", ip: "127.0.0.1", port: portOf(bob) }];
  const [listener, poker] = bindPeerPort(resolvePeerOptions({ hostname: "127.0.0.1", port: 0 }), {
    emit: (event) => events.push(event),
    report: () => {},
    room: () => "room1",
    members: () => members,
  });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: listener.addr.port };
  try {
    equal(poker.port, listener.addr.port);
    await bob.send(encodeFrame({ type: "K", room: "room1", name: "bob" }), to);
    await bob.receive();
    await stranger.send(encodeFrame({ type: "K", room: "room1", name: "bob" }), to);
    await stranger.receive();
    deepEqual(events, [
      { type: "poke", from: "bob" },
      { type: "poke", from: `127.0.0.1:${portOf(stranger)}`, claimed: "bob" },
    ]);
  } finally {
    listener.close();
    bob.close();
    stranger.close();
    await poker.close();
  }
});
