import { deepEqual, equal, ok } from "node:assert/strict";
import { errorEvent, PeerError, registryError } from "../peer/errors.ts";
import { RegistryFailure, RegistryUnreachable } from "../peer/registry_client.ts";

Deno.test("errors: a PeerError carries its code and message and is an Error", () => {
  const error = new PeerError("self-poke", "Cannot poke yourself");
  ok(error instanceof Error);
  equal(error.name, "PeerError");
  equal(error.code, "self-poke");
  equal(error.message, "Cannot poke yourself");
});

Deno.test("errors: an F from the registry is registry-refused, quoting the registry's text", () => {
  const error = registryError("join room1", new RegistryFailure("JOIN message - Name taken!!"));
  equal(error.code, "registry-refused");
  equal(error.message, "The registry refused to join room1: JOIN message - Name taken!!");
  ok(error.cause instanceof RegistryFailure);
});

Deno.test("errors: any other registry failure is registry-unreachable; a PeerError stays as it is", () => {
  const down = registryError("join r", new RegistryUnreachable("127.0.0.1:1", "refused"));
  equal(down.code, "registry-unreachable");
  equal(down.message, "Cannot reach the registry at 127.0.0.1:1: refused");
  equal(registryError("join r", new Error("No reply in time")).code, "registry-unreachable");
  const quit = new PeerError("quit", "The peer has quit");
  equal(registryError("join r", quit), quit);
});

Deno.test("errors: the error event of a command has its code; a poke timeout has none (already shown)", () => {
  deepEqual(errorEvent(new PeerError("empty-text", "Message must not be empty")), {
    type: "error",
    code: "empty-text",
    message: "Message must not be empty",
  });
  deepEqual(errorEvent(new Error("Boom")), { type: "error", message: "Boom" });
  equal(errorEvent(new PeerError("poke-timeout", "The poke to bob got no answer in time")), null);
});
