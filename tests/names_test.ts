import assert from "node:assert/strict";
import { nameProblem } from "../lib/names.ts";

Deno.test("names: accepts 1 to 32 printable ASCII characters", () => {
  assert.equal(nameProblem("a", "User name"), null);
  assert.equal(nameProblem("x".repeat(32), "User name"), null);
  assert.equal(nameProblem("Alice Smith ~!", "User name"), null);
});

Deno.test("names: says why a name is refused", () => {
  assert.equal(nameProblem("", "User name"), "User name must not be empty");
  assert.equal(nameProblem("a:b", "Room name"), "Room name must not contain ':'");
  assert.equal(
    nameProblem("x".repeat(33), "User name"),
    "User name must be at most 32 characters, got 33",
  );
  assert.equal(nameProblem("é", "User name"), "User name must be printable ASCII");
  assert.equal(nameProblem("a\tb", "User name"), "User name must be printable ASCII");
});
