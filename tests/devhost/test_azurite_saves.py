"""Azurite's metadata autosaves paced by their cost (``devhost/azurite_saves.js``): a LokiJS
database with the hook loaded, its timers and clock stubbed so that each save takes a known time,
schedules the next save PACE times that duration after it, never sooner than its own interval,
keeps saving while changed, stops on close, and its file holds every change once closed."""

from __future__ import annotations

import pytest

from tests.devhost.node_hooks import run_under_hook

SCRIPT = r"""
const { PACE } = require(process.argv[1]);
const loki = require("lokijs");
let now = 0;
performance.now = () => now;
const timers = [];
global.setTimeout = (fn, delay) => {
  const timer = { fn, delay, cleared: false };
  timers.push(timer);
  return timer;
};
global.clearTimeout = (timer) => {
  if (timer) timer.cleared = true;
};
const saved = [];
let saveMs = 0;
const adapter = {
  saveDatabase(name, text, done) {
    now += saveMs;
    saved.push(JSON.parse(text).collections[0].data.length);
    done(null);
  },
};
const db = new loki("test.db", { adapter, autosave: true, autosaveInterval: 5000 });
const blobs = db.addCollection("blobs");
const live = () => timers.filter((t) => !t.cleared && !t.fired);
const run = (timer) => {
  timer.fired = true;
  timer.fn();
};
// LokiJS's own zero-delay steps of a save, run as the event loop would.
const soon = () => live().filter((t) => t.delay <= 1);
const drain = () => {
  for (let due = soon(); due.length; due = soon()) due.forEach(run);
};
// Runs the one autosave timer, as the event loop would when its delay ran out: its delay.
const fire = () => {
  drain();
  const waiting = live();
  if (waiting.length !== 1) throw new Error(`${waiting.length} live timers`);
  run(waiting[0]);
  drain();
  return waiting[0].delay;
};
const delays = [];
delays.push(fire());                      // the new, empty collection: an instant save
blobs.insert({ n: 1 }); saveMs = 1000;
delays.push(fire());                      // a 1 s save
blobs.insert({ n: 2 }); saveMs = 10;
delays.push(fire());                      // a 10 ms save
delays.push(fire());                      // nothing changed since
blobs.insert({ n: 3 });
let closed = false;
db.close(() => { closed = true; });
drain();
console.log(JSON.stringify({ pace: PACE, delays, saved, closed, live: live().length }));
"""


@pytest.mark.integration
def test_autosaves_follow_the_cost_of_the_last_save_and_close_saves_the_rest() -> None:
    result = run_under_hook("azurite_saves.js", SCRIPT)
    pace = result["pace"]
    assert pace > 1
    # The first wait is Azurite's interval, and after an instant save; after the 1 s save, PACE
    # seconds; after the 10 ms save (PACE * 10 ms is under 5 s), the interval again.
    assert result["delays"] == [5000, 5000, pace * 1000, 5000]
    assert result["saved"] == [0, 1, 2, 3], "each change saved, the last one on close"
    assert result["closed"] is True
    assert result["live"] == 0, "no autosave left scheduled after close"
