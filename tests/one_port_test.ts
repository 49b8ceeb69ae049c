import { equal, throws } from "node:assert/strict";
import { bindOnePort } from "../peer/one_port.ts";

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
