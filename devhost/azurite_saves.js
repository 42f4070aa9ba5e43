// Azurite's metadata saves, paced by what they cost, so that saving takes a bounded share of
// Azurite's time whatever the number of blobs it holds.
//
// Azurite keeps blob metadata in a LokiJS database and, while anything changed, saves all of it
// to one JSON file every 5 s. A save serialises every blob's record on Azurite's one thread
// (1.1 s among 99,000 blobs, about 50,000 stored instances), so as an archive grew saving took a
// quarter of Azurite's CPU and more, and stalled every blob call for the length of a save each
// time. Here an autosave comes at least PACE times the previous save's duration after it ends,
// and never sooner than Azurite's own interval: at most about 1/PACE of the time goes to saving.
// The price: what a killed Azurite loses, the changes since its last save, covers up to PACE
// save durations (about 20 s among 99,000 blobs) instead of 5 s; a stopped Azurite saves
// everything on close, as before. The file's format is Azurite's own. Loaded before Azurite:
// node --require ./azurite_saves.js.
"use strict";

const loki = require("lokijs");

const PACE = 20;
// LokiJS's own interval when none is configured.
const DEFAULT_INTERVAL_MS = 5000;

loki.prototype.autosaveEnable = function pacedAutosaveEnable(options, callback) {
  this.autosave = true;
  const least = this.autosaveInterval == null ? DEFAULT_INTERVAL_MS : this.autosaveInterval;
  const db = this;
  let handle = null;
  const schedule = (delay) => {
    handle = setTimeout(tick, delay);
    db.autosaveHandle = handle;
  };
  function tick() {
    if (!db.autosaveDirty() || db.ignoreAutosave) {
      schedule(least);
      return;
    }
    const started = performance.now();
    const ran = handle;
    db.saveDatabase((error) => {
      // Disabled (closing) or enabled again meanwhile: that timer, or none, is the one to keep.
      if (db.autosaveHandle === ran) schedule(Math.max(least, PACE * (performance.now() - started)));
      if (typeof callback === "function") callback(error);
    });
  }
  schedule(least);
};

loki.prototype.autosaveDisable = function pacedAutosaveDisable() {
  if (this.autosaveHandle != null) {
    clearTimeout(this.autosaveHandle);
    this.autosaveHandle = null;
  }
};

module.exports = { PACE, DEFAULT_INTERVAL_MS };
