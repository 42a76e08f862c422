/* live remote: the page's whole program. Plain JavaScript, no framework, no build.

   It reads /remote/layout.json (the controls, made from the show's registry) and the
   OSCQuery namespace "/" (the values now), then follows the show over the OSCQuery
   WebSocket on the same port:
     - text frames to the server: {"COMMAND": "LISTEN" | "IGNORE", "DATA": address},
       LIVE_PIN and LIVE_PREVIEW (the show's own extensions);
     - binary frames both ways: OSC messages (or bundles); from the server also whole
       JPEG frames of the preview (they start with FF D8);
     - text frames from the server: LIVE_STATUS {pin_required, authorised}.
   Controls LISTEN while their page is on screen. A fader being dragged ignores what the
   server says about it until shortly after it is let go, so the two never fight.

   window.liveRemote exposes the state for tests and measurements. */

(function () {
  "use strict";

  const RETRY_MS = [500, 1000, 2000, 4000, 8000];
  const SEND_GAP_MS = 25;        // a dragged fader sends at most this often (40 per second)
  const HOLD_AFTER_DRAG_MS = 300; // a released fader ignores the server this long
  const STORE_HOLD_MS = 450;     // a store pad fires after being held this long
  const PREVIEW_KEY = "live.remote.preview";

  const remote = {
    connected: false,
    values: {},          // address -> latest value known (from the server or sent)
    lastApplied: {},     // address -> Date.now() when a streamed value reached its control
    previewFrames: 0,
    previewBytes: 0,
    scene: null,
    page: null,
    pinRequired: false,
    authorised: false,
    listening: [],
    sent: 0,
    received: 0,
    reconnects: 0,
    layout: null,
  };
  window.liveRemote = remote;

  // ---------------------------------------------------------------- OSC
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();

  function padded(bytes) {
    const out = new Uint8Array((bytes.length + 4) & ~3); // NUL, then up to a multiple of 4
    out.set(bytes);
    return out;
  }

  /* One OSC message. args: [["f", 0.5], ["i", 1], ["s", "loop"]]. */
  function encodeOsc(address, args) {
    const parts = [padded(encoder.encode(address)),
      padded(encoder.encode("," + args.map((a) => a[0]).join("")))];
    for (const [type, value] of args) {
      if (type === "s") {
        parts.push(padded(encoder.encode(String(value))));
      } else if (type === "f" || type === "i") {
        const word = new DataView(new ArrayBuffer(4));
        if (type === "f") word.setFloat32(0, value); else word.setInt32(0, value);
        parts.push(new Uint8Array(word.buffer));
      }
    }
    const size = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out.buffer;
  }

  function readString(bytes, at) {
    let end = at;
    while (end < bytes.length && bytes[end] !== 0) end++;
    if (end >= bytes.length) throw new Error("unterminated string");
    return [decoder.decode(bytes.subarray(at, end)), (end + 4) & ~3];
  }

  /* Messages of an OSC packet (a message or a bundle) as [{address, args}]. */
  function decodeOsc(bytes, out = [], depth = 0) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length >= 16 && bytes[0] === 0x23) { // "#bundle"
      const [tag] = readString(bytes, 0);
      if (tag !== "#bundle" || depth > 4) return out;
      let at = 16;
      while (at + 4 <= bytes.length) {
        const size = view.getInt32(at);
        at += 4;
        if (size <= 0 || at + size > bytes.length) break;
        decodeOsc(bytes.subarray(at, at + size), out, depth + 1);
        at += size;
      }
      return out;
    }
    let [address, at] = readString(bytes, 0);
    const args = [];
    if (at < bytes.length) {
      let tags;
      [tags, at] = readString(bytes, at);
      for (const tag of tags.slice(1)) {
        if (tag === "f") { args.push(view.getFloat32(at)); at += 4; }
        else if (tag === "i") { args.push(view.getInt32(at)); at += 4; }
        else if (tag === "d") { args.push(view.getFloat64(at)); at += 8; }
        else if (tag === "h") { args.push(Number(view.getBigInt64(at))); at += 8; }
        else if (tag === "s" || tag === "S") { let s; [s, at] = readString(bytes, at); args.push(s); }
        else if (tag === "T") args.push(true);
        else if (tag === "F") args.push(false);
        else if (tag === "N") args.push(null);
        else if (tag === "I") args.push(Infinity);
        else if (tag === "b") { const n = view.getInt32(at); at += 4 + ((n + 3) & ~3); args.push(null); }
        else break; // a type this page has no use for: stop reading this message
      }
    }
    out.push({ address, args });
    return out;
  }

  // ---------------------------------------------------------------- helpers
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clamp01(x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

  let toastTimer = 0;
  function toast(text, ms = 2500) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, ms);
  }

  function formatNative(ctl, x) {
    const value = ctl.lo + x * (ctl.hi - ctl.lo);
    if (ctl.int) return String(Math.round(value));
    const span = Math.abs(ctl.hi - ctl.lo);
    const digits = span >= 100 ? 0 : span >= 10 ? 1 : span > 2 ? 2 : 3;
    const text = value.toFixed(digits);
    return text === "-0" || /^-0\.0*$/.test(text) ? text.slice(1) : text;
  }

  // ---------------------------------------------------------------- bindings
  // address -> [{apply(value), follows: bool}] ; a control may bind several addresses
  const binders = new Map();
  const held = new Map();   // address -> hold-until ms (a fader being dragged or just let go)
  const heldValue = new Map();

  function bind(address, apply) {
    if (!binders.has(address)) binders.set(address, []);
    binders.get(address).push(apply);
  }

  function applyValue(address, value, streamed) {
    remote.values[address] = value;
    const hold = held.get(address);
    if (hold !== undefined && (hold === Infinity || performance.now() < hold)) {
      heldValue.set(address, value);
      return;
    }
    const list = binders.get(address);
    if (list) for (const apply of list) apply(value);
    if (streamed) remote.lastApplied[address] = Date.now();
  }

  function holdRelease(address) {
    held.set(address, performance.now() + HOLD_AFTER_DRAG_MS);
    setTimeout(() => {
      const until = held.get(address);
      if (until === undefined || until === Infinity || performance.now() < until) return;
      held.delete(address);
      if (heldValue.has(address)) {
        const value = heldValue.get(address);
        heldValue.delete(address);
        applyValue(address, value, true);
      }
    }, HOLD_AFTER_DRAG_MS + 20);
  }

  // ---------------------------------------------------------------- sending
  function writable() {
    return !remote.pinRequired || remote.authorised;
  }

  function send(address, args) {
    if (!writable()) { showPin(); return false; }
    if (!ws || ws.readyState !== WebSocket.OPEN) { toast("not connected: the change was not sent"); return false; }
    ws.send(encodeOsc(address, args));
    remote.sent++;
    return true;
  }

  function command(name, data) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ COMMAND: name, DATA: data }));
  }

  // ---------------------------------------------------------------- controls
  function makeFader(ctl, color) {
    const node = el("div", "ctl fader");
    node.dataset.address = ctl.address;
    node.dataset.name = ctl.name;
    node.setAttribute("role", "slider");
    node.setAttribute("aria-label", ctl.label);
    node.setAttribute("aria-valuemin", "0");
    node.setAttribute("aria-valuemax", "1");
    node.tabIndex = 0;
    if (ctl.description) node.title = ctl.description;
    if (color) node.style.setProperty("--fill", color);
    const fill = el("div", "fill");
    const knob = el("div", "knob");
    const label = el("span", "lbl", ctl.label);
    const val = el("span", "val");
    const num = el("span", "num");
    val.append(num);
    if (ctl.unit) val.append(el("i", "", ctl.unit));
    node.append(fill, knob, label, val);

    let x = ctl.default;
    function show(v) {
      x = clamp01(v);
      node.style.setProperty("--v", x.toFixed(4));
      num.textContent = formatNative(ctl, x);
      node.setAttribute("aria-valuenow", x.toFixed(3));
      node.setAttribute("aria-valuetext", num.textContent + (ctl.unit ? " " + ctl.unit : ""));
      node.dataset.value = x.toFixed(4);
    }
    show(x);
    bind(ctl.address, (v) => { if (typeof v === "number" && isFinite(v)) show(v); });

    // sending, coalesced while dragging
    let pending = null, timer = 0, lastSent = -1;
    function flush() {
      timer = 0;
      if (pending === null || pending === lastSent) { pending = null; return; }
      if (send(ctl.address, [["f", pending]])) {
        lastSent = pending;
        remote.values[ctl.address] = pending;
      }
      pending = null;
      timer = setTimeout(flush, SEND_GAP_MS);
    }
    function set(v) {
      show(v);
      pending = x;
      if (!timer) flush();
    }

    let drag = null;
    node.addEventListener("pointerdown", (e) => {
      if (e.button > 0 || drag) return;
      if (!writable()) { showPin(); return; }
      drag = { id: e.pointerId, x0: e.clientX, y0: e.clientY, v0: x, on: false,
        w: Math.max(node.clientWidth, 1), touch: e.pointerType === "touch" };
      try { node.setPointerCapture(e.pointerId); } catch (err) { /* pointer gone already */ }
    });
    node.addEventListener("pointermove", (e) => {
      if (!drag || e.pointerId !== drag.id) return;
      const dx = e.clientX - drag.x0, dy = e.clientY - drag.y0;
      if (!drag.on) {
        if (Math.abs(dx) < 3) return;
        if (drag.touch && Math.abs(dy) > Math.abs(dx)) { end(e, false); return; }
        drag.on = true;
        node.classList.add("drag");
        held.set(ctl.address, Infinity);
      }
      set(drag.v0 + (e.clientX - drag.x0) / drag.w);
      e.preventDefault();
    });
    function end(e, finished) {
      if (!drag || e.pointerId !== drag.id) return;
      const was = drag.on;
      drag = null;
      node.classList.remove("drag");
      try { node.releasePointerCapture(e.pointerId); } catch (err) { /* not captured */ }
      if (was) {
        if (finished && pending !== null && !timer) flush();
        holdRelease(ctl.address);
      }
    }
    node.addEventListener("pointerup", (e) => end(e, true));
    node.addEventListener("pointercancel", (e) => end(e, false));
    node.addEventListener("lostpointercapture", (e) => end(e, true));
    node.addEventListener("keydown", (e) => {
      const step = e.shiftKey ? 0.1 : 0.01;
      const keys = { ArrowRight: step, ArrowUp: step, ArrowLeft: -step, ArrowDown: -step };
      if (!(e.key in keys)) return;
      e.preventDefault();
      set(x + keys[e.key]);
    });
    return node;
  }

  function makeChoice(ctl) {
    const node = el("div", "ctl choice card" + (ctl.choices.length > 3 ? " wide" : ""));
    node.dataset.address = ctl.address;
    node.dataset.name = ctl.name;
    if (ctl.description) node.title = ctl.description;
    node.append(el("div", "ctl-label", ctl.label));
    const opts = el("div", "opts");
    const longest = Math.max(...ctl.choices.map((c) => c.length));
    if (longest > 7) opts.classList.add(longest > 10 ? "longer" : "long");
    const buttons = ctl.choices.map((choice) => {
      const b = el("button", "opt", choice);
      b.type = "button";
      b.dataset.address = ctl.address;
      b.dataset.value = choice;
      tap(b, () => { if (send(ctl.address, [["s", choice]])) { show(choice); remote.values[ctl.address] = choice; } });
      opts.append(b);
      return b;
    });
    node.append(opts);
    function show(v) {
      const name = typeof v === "number" ? ctl.choices[Math.round(v)] : v;
      for (const b of buttons) b.classList.toggle("on", b.dataset.value === name);
      node.dataset.value = name === undefined ? "" : name;
    }
    show(ctl.default);
    bind(ctl.address, show);
    return node;
  }

  /* A tap: fires on release when the pointer has not moved away (a scroll never fires). */
  function tap(node, action) {
    let start = null;
    node.addEventListener("pointerdown", (e) => { if (e.button <= 0) start = [e.pointerId, e.clientX, e.clientY]; });
    node.addEventListener("pointercancel", () => { start = null; });
    node.addEventListener("pointerup", (e) => {
      if (!start || start[0] !== e.pointerId) return;
      const far = Math.hypot(e.clientX - start[1], e.clientY - start[2]) > 12;
      start = null;
      if (!far) action();
    });
    node.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); action(); } });
  }

  function flash(node) {
    node.classList.add("hit");
    setTimeout(() => node.classList.remove("hit"), 140);
  }

  function makeButton(spec, extraClass) {
    const b = el("button", "btn " + spec.kind + (extraClass ? " " + extraClass : ""), spec.label);
    b.type = "button";
    b.dataset.address = spec.address;
    if (spec.description) b.title = spec.description;
    if (spec.kind === "toggle") {
      let on = false;
      const show = (v) => { on = v === true || v === 1 || (typeof v === "number" && v >= 0.5); b.classList.toggle("on", on); b.setAttribute("aria-pressed", String(on)); b.dataset.value = on ? "1" : "0"; };
      show(false);
      bind(spec.address, show);
      tap(b, () => { if (send(spec.address, [["i", on ? 0 : 1]])) { show(!on); remote.values[spec.address] = on; } });
    } else {
      // a push fires on press: timing matters (flash, tap tempo); it is a big, lone button
      b.addEventListener("pointerdown", (e) => {
        if (e.button > 0) return;
        if (send(spec.address, [["f", 1]])) flash(b);
      });
      b.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); if (send(spec.address, [["f", 1]])) flash(b); } });
    }
    return b;
  }

  function makeButtons(ctl) {
    const node = el("div", "ctl btns card");
    if (ctl.label) node.append(el("div", "ctl-label", ctl.label));
    const row = el("div", "row");
    for (const spec of ctl.buttons) row.append(makeButton(spec));
    node.append(row);
    return node;
  }

  function makePads(ctl) {
    const node = el("div", "ctl pads-card card wide" + (ctl.danger ? " danger" : ""));
    node.dataset.name = ctl.name;
    if (ctl.description) node.title = ctl.description;
    node.append(el("div", "ctl-label", ctl.label));
    const grid = el("div", "pads");
    for (const spec of ctl.buttons) {
      const b = el("button", "btn push pad", spec.label);
      b.type = "button";
      b.dataset.address = spec.address;
      if (ctl.danger) {
        // storing overwrites a slot: it needs a deliberate hold
        let timer = 0, started = 0, raf = 0;
        const stop = () => { clearTimeout(timer); cancelAnimationFrame(raf); b.classList.remove("arming"); b.style.removeProperty("--arm"); timer = 0; };
        const grow = () => { b.style.setProperty("--arm", Math.min(100, (performance.now() - started) / STORE_HOLD_MS * 100) + "%"); raf = requestAnimationFrame(grow); };
        b.addEventListener("pointerdown", (e) => {
          if (e.button > 0) return;
          if (!writable()) { showPin(); return; }
          started = performance.now();
          b.classList.add("arming");
          grow();
          timer = setTimeout(() => { stop(); if (send(spec.address, [["f", 1]])) { flash(b); toast("stored in slot " + spec.label); } }, STORE_HOLD_MS);
        });
        const early = () => { if (timer) { stop(); toast("hold the pad to store", 1500); } };
        b.addEventListener("pointerup", early);
        b.addEventListener("pointerleave", () => { if (timer) stop(); });
        b.addEventListener("pointercancel", stop);
      } else {
        tap(b, () => { if (send(spec.address, [["f", 1]])) flash(b); });
      }
      grid.append(b);
    }
    node.append(grid);
    return node;
  }

  function makeColor(ctl) {
    const node = el("div", "ctl color card");
    node.dataset.name = ctl.name;
    const head = el("div", "color-head");
    const swatch = el("div", "swatch");
    head.append(el("div", "ctl-label", ctl.label), swatch);
    const chans = el("div", "chans");
    const tint = { r: "#e5484d", g: "#46c45f", b: "#3e7cf0", a: "#9aa3b2" };
    const rgba = {};
    const paint = () => {
      const c = (k) => Math.round(255 * clamp01(rgba[k] ?? 0));
      swatch.style.setProperty("--swatch", `rgba(${c("r")}, ${c("g")}, ${c("b")}, ${clamp01(rgba.a ?? 1).toFixed(3)})`);
    };
    for (const ch of ctl.channels) {
      const key = ch.label;
      // a channel's native range is usually 0-1: the swatch uses the native value
      rgba[key] = ch.lo + ch.default * (ch.hi - ch.lo);
      chans.append(makeFader(ch, tint[key]));
      bind(ch.address, (v) => { if (typeof v === "number") { rgba[key] = ch.lo + clamp01(v) * (ch.hi - ch.lo); paint(); } });
    }
    paint();
    node.append(head, chans);
    return node;
  }

  function makeControl(ctl) {
    switch (ctl.kind) {
      case "fader": return makeFader(ctl);
      case "choice": return makeChoice(ctl);
      case "buttons": return makeButtons(ctl);
      case "pads": return makePads(ctl);
      case "color": return makeColor(ctl);
      default: return el("div", "card", ctl.label || ctl.kind);
    }
  }

  /* Addresses a control follows (LISTEN): faders, choices, toggles; not push buttons. */
  function follows(ctl, out) {
    if (ctl.kind === "fader" || ctl.kind === "choice") out.push(ctl.address);
    else if (ctl.kind === "color") for (const ch of ctl.channels) out.push(ch.address);
    else if (ctl.kind === "buttons") for (const b of ctl.buttons) if (b.kind === "toggle") out.push(b.address);
    return out;
  }

  // ---------------------------------------------------------------- scenes
  const sceneButtons = [];
  let sceneLayers = {};

  function makeScenes(scenes, compact) {
    const grid = el("div", compact ? "scenes compact" : "scenes");
    for (const scene of scenes) {
      const b = el("button", "scene");
      b.type = "button";
      b.dataset.address = remote.layout.scene_go;
      b.dataset.scene = scene.name;
      b.append(el("span", "name", scene.name));
      if (scene.description && !compact) b.append(el("span", "desc", scene.description));
      if (scene.description) b.title = scene.description;
      tap(b, () => { if (send(remote.layout.scene_go, [["s", scene.name]])) flash(b); });
      sceneButtons.push(b);
      grid.append(b);
    }
    if (!scenes.length) grid.append(el("div", "sec-note", "no scenes in the show's scenes folder"));
    return grid;
  }

  function setScene(name) {
    if (typeof name !== "string") return;
    const changed = name !== remote.scene;
    remote.scene = name;
    $("scene-now").textContent = name || "\u2014";
    $("strip-scene").textContent = name || "\u2014";
    for (const b of sceneButtons) {
      const on = b.dataset.scene === name;
      b.classList.toggle("on", on);
      b.setAttribute("aria-pressed", String(on));
    }
    if (!changed) return;
    if (name && remote.layout && !(name in sceneLayers)) loadLayout(true); // a new scene file
    showLayers();
  }

  /* The layers page shows the current scene's layers (and the fixed slots). */
  function showLayers() {
    const names = sceneLayers[remote.scene] || [];
    for (const sec of document.querySelectorAll(".sec[data-layer]")) {
      const on = names.includes(sec.dataset.layer);
      if (on) sec.removeAttribute("data-hidden"); else sec.setAttribute("data-hidden", "");
      if (on) sec.style.order = String(names.indexOf(sec.dataset.layer));
    }
    const note = $("layers-note");
    if (note) {
      note.textContent = remote.scene === null ? "waiting for the show to say which scene is on\u2026"
        : names.length ? "" : `scene ${remote.scene} has no shader layers`;
      note.hidden = !note.textContent;
    }
    if (remote.page === "layers") relisten();
  }

  // ---------------------------------------------------------------- pages and tabs
  const pageNodes = new Map();   // id -> {node, tab, spec}

  function build(layout) {
    remote.layout = layout;
    sceneLayers = {};
    for (const s of layout.scenes) sceneLayers[s.name] = s.layers;
    binders.clear();
    sceneButtons.length = 0;
    pageNodes.clear();
    const tabs = $("tabs"), pages = $("pages");
    tabs.replaceChildren();
    pages.replaceChildren();
    for (const spec of layout.pages) {
      const tab = el("button", "tab");
      tab.type = "button";
      tab.setAttribute("role", "tab");
      tab.dataset.page = spec.id;
      tab.style.setProperty("--tab-color", spec.color);
      tab.append(el("span", "swatch-dot"), el("span", "", spec.title));
      tab.addEventListener("click", () => showPage(spec.id));
      tabs.append(tab);

      const page = el("section", "page");
      page.dataset.page = spec.id;
      page.setAttribute("role", "tabpanel");
      page.style.setProperty("--accent", spec.color);
      const body = el("div", "page-body");
      body.style.display = "flex";
      body.style.flexDirection = "column";
      if (spec.id === "layers") {
        const note = el("div", "sec-note");
        note.id = "layers-note";
        body.append(note);
      }
      for (const sec of spec.sections) {
        const node = el("section", "sec");
        if (sec.layer) node.dataset.layer = sec.layer;
        const head = el("div", "sec-head");
        const [title, sub] = sec.title.split(" \u00b7 ");
        head.append(el("h2", "", title));
        if (sub) head.append(el("span", "sub", sub));
        node.append(head);
        if (sec.scenes) node.append(makeScenes(layout.scenes));
        const grid = el("div", "grid");
        for (const ctl of sec.controls) grid.append(makeControl(ctl));
        if (sec.controls.length) node.append(grid);
        if (sec.scenes && sec.controls.length) grid.style.marginTop = "10px";
        body.append(node);
      }
      page.append(body);
      pages.append(page);
      pageNodes.set(spec.id, { node: page, tab, spec });
    }
    $("side-scenes").replaceChildren(makeScenes(layout.scenes, true));
    // the strip's prev/next (landscape) are plain push buttons on the scene addresses
    for (const b of document.querySelectorAll(".strip-step")) {
      if (!b.dataset.bound) {
        b.dataset.bound = "1";
        b.addEventListener("pointerdown", (e) => { if (e.button <= 0 && send(b.dataset.address, [["f", 1]])) flash(b); });
      }
    }
    for (const [address, value] of Object.entries(remote.values)) applyValue(address, value, false);
    const want = pageNodes.has(remote.page) ? remote.page : (location.hash.slice(1) || layout.pages[0]?.id);
    remote.page = null;
    showPage(pageNodes.has(want) ? want : layout.pages[0]?.id);
    setScene(remote.scene === null ? null : remote.scene);
    showLayers();
    document.body.classList.toggle("locked", remote.pinRequired && !remote.authorised);
  }

  function showPage(id) {
    if (!pageNodes.has(id)) return;
    const previous = remote.page;
    remote.page = id;
    for (const [key, p] of pageNodes) {
      const on = key === id;
      p.node.classList.toggle("on", on);
      p.tab.setAttribute("aria-selected", String(on));
    }
    const { tab, spec } = pageNodes.get(id);
    document.documentElement.style.setProperty("--accent", spec.color);
    centerTab();
    if (previous !== id) {
      $("pages").scrollTop = 0;
      if (location.hash.slice(1) !== id) history.replaceState(null, "", "#" + id);
      relisten(); // the server answers each LISTEN with the value now
    }
  }

  /* The current page's tab in the middle of the tab bar (it scrolls sideways on a phone). */
  function centerTab() {
    const entry = pageNodes.get(remote.page);
    if (!entry) return;
    const tabs = $("tabs"), tab = entry.tab;
    tabs.scrollLeft = tab.offsetLeft - tabs.offsetLeft - (tabs.clientWidth - tab.offsetWidth) / 2;
  }

  function pageAddresses(id) {
    const entry = pageNodes.get(id);
    if (!entry) return [];
    const names = sceneLayers[remote.scene] || [];
    const out = [];
    for (const sec of entry.spec.sections) {
      if (sec.layer && !names.includes(sec.layer)) continue;
      for (const ctl of sec.controls) follows(ctl, out);
    }
    return out;
  }

  /* LISTEN on what is on screen (and the scene), IGNORE what left it. */
  function relisten() {
    if (!ws || ws.readyState !== WebSocket.OPEN || !remote.layout) return;
    const want = new Set([remote.layout.scene_address, ...pageAddresses(remote.page)]);
    const had = new Set(remote.listening);
    for (const address of had) if (!want.has(address)) command("IGNORE", address);
    for (const address of want) if (!had.has(address)) command("LISTEN", address);
    remote.listening = [...want];
  }

  // ---------------------------------------------------------------- values over HTTP
  let refreshSerial = 0;
  /* The namespace's VALUEs, at start and at each connect (every control, listening or not).
     Values streamed meanwhile are newer and win. */
  async function refreshValues() {
    const serial = ++refreshSerial;
    const started = Date.now();
    let tree;
    try {
      const reply = await fetch("/", { cache: "no-store" });
      if (!reply.ok) return;
      tree = await reply.json();
    } catch (err) {
      return;
    }
    if (serial !== refreshSerial) return;
    const walk = (node) => {
      if (!node || typeof node !== "object") return;
      if (Array.isArray(node.VALUE) && node.VALUE.length && node.FULL_PATH) {
        const address = node.FULL_PATH;
        const streamed = remote.lastApplied[address];
        if (!(streamed && streamed >= started)) {
          if (address === remote.layout?.scene_address) setScene(node.VALUE[0]);
          else applyValue(address, node.VALUE[0], false);
        }
      }
      if (node.CONTENTS) for (const child of Object.values(node.CONTENTS)) walk(child);
    };
    walk(tree);
  }

  // ---------------------------------------------------------------- layout
  let layoutTries = 0;
  async function loadLayout(again) {
    try {
      const reply = await fetch("/remote/layout.json", { cache: "no-store" });
      if (!reply.ok) throw new Error("HTTP " + reply.status);
      const layout = await reply.json();
      layoutTries = 0;
      if (remote.layout === null) remote.pinRequired = !!layout.pin_required;
      build(layout);
      if (!again) connect();
      else relisten(); // what is on screen now; IGNORE what left
      refreshValues();
    } catch (err) {
      const wait = RETRY_MS[Math.min(layoutTries++, RETRY_MS.length - 1)];
      const loading = $("loading");
      if (loading) loading.textContent = "cannot reach the show (" + err.message + "); trying again\u2026";
      setTimeout(() => loadLayout(again), wait);
    }
  }

  // ---------------------------------------------------------------- WebSocket
  let ws = null;
  let retry = 0;
  let retryTimer = 0;
  let pin = "";
  let previewUrl = null;
  const frameTimes = [];

  function setConn(state, text) {
    const box = $("conn");
    box.dataset.state = state;
    $("conn-text").textContent = text;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) return;
    setConn("connecting", "connecting");
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/");
    socket.binaryType = "arraybuffer";
    ws = socket;
    socket.onopen = () => {
      if (ws !== socket) return;
      retry = 0;
      remote.connected = true;
      setConn("live", "live");
      remote.listening = [];
      relisten();
      if (previewOn()) command("LIVE_PREVIEW", true);
      if (pin) command("LIVE_PIN", pin);
      refreshValues();
    };
    socket.onmessage = (event) => {
      if (ws !== socket) return;
      remote.received++;
      if (typeof event.data === "string") { onText(event.data); return; }
      const bytes = new Uint8Array(event.data);
      if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xd8) { onJpeg(event.data); return; }
      let messages;
      try { messages = decodeOsc(bytes); } catch (err) { return; }
      for (const m of messages) {
        if (m.address === remote.layout?.scene_address) setScene(m.args[0]);
        else if (m.args.length) applyValue(m.address, m.args[0], true);
      }
    };
    socket.onclose = () => {
      if (ws !== socket) return;
      ws = null;
      remote.connected = false;
      remote.listening = [];
      const wait = RETRY_MS[Math.min(retry++, RETRY_MS.length - 1)] * (0.8 + 0.4 * Math.random());
      remote.reconnects++;
      setConn("offline", "offline \u00b7 " + Math.max(1, Math.round(wait / 1000)) + " s");
      retryTimer = setTimeout(connect, wait);
    };
    socket.onerror = () => { /* onclose follows */ };
  }

  function onText(text) {
    let msg;
    try { msg = JSON.parse(text); } catch (err) { return; }
    if (!msg || msg.COMMAND !== "LIVE_STATUS" || typeof msg.DATA !== "object") return;
    const wasAuthorised = remote.authorised;
    remote.pinRequired = !!msg.DATA.pin_required;
    remote.authorised = !!msg.DATA.authorised;
    document.body.classList.toggle("locked", remote.pinRequired && !remote.authorised);
    $("lock-chip").hidden = !(remote.pinRequired && !remote.authorised);
    if (!remote.pinRequired || remote.authorised) {
      if (!$("pin").hidden) { $("pin").hidden = true; if (!wasAuthorised && remote.pinRequired) toast("unlocked"); }
      return;
    }
    if (pinAttempt) {
      $("pin-error").textContent = msg.DATA.error || "wrong PIN, or too many tries: wait a minute";
      pinAttempt = false;
      pin = "";
      showPin();
    } else if (!pinDismissed) {
      showPin();
    }
  }

  // ---------------------------------------------------------------- PIN
  let pinAttempt = false;
  let pinDismissed = false;

  function showPin() {
    $("pin").hidden = false;
    const input = $("pin-input");
    input.value = "";
    setTimeout(() => input.focus(), 30);
  }

  $("pin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("pin-input").value.trim();
    if (!value) return;
    pin = value;
    pinAttempt = true;
    $("pin-error").textContent = "";
    if (ws && ws.readyState === WebSocket.OPEN) command("LIVE_PIN", value);
    else $("pin-error").textContent = "not connected yet: it is sent when the show answers";
  });
  $("pin-later").addEventListener("click", () => { pinDismissed = true; $("pin").hidden = true; });
  $("lock-chip").addEventListener("click", showPin);

  // ---------------------------------------------------------------- preview
  function previewOn() { return $("app").dataset.preview !== "off"; }

  function onJpeg(buffer) {
    remote.previewFrames++;
    remote.previewBytes = buffer.byteLength;
    if (!previewOn()) return;
    const url = URL.createObjectURL(new Blob([buffer], { type: "image/jpeg" }));
    const img = $("preview");
    const old = previewUrl;
    previewUrl = url;
    img.onload = () => {
      if (old) URL.revokeObjectURL(old);
      $("preview-box").classList.add("has-frame");
      img.dataset.frames = String(remote.previewFrames);
    };
    img.onerror = () => { if (old) URL.revokeObjectURL(old); };
    img.src = url;
    const now = performance.now();
    frameTimes.push(now);
    while (frameTimes.length && now - frameTimes[0] > 2000) frameTimes.shift();
    const fps = frameTimes.length > 1 ? (frameTimes.length - 1) * 1000 / (now - frameTimes[0]) : 0;
    $("preview-info").textContent = fps ? fps.toFixed(1) + " fps \u00b7 " + Math.round(buffer.byteLength / 1024) + " KB" : "";
  }

  function setPreview(on) {
    $("app").dataset.preview = on ? "on" : "off";
    $("preview-toggle").setAttribute("aria-pressed", String(on));
    try { localStorage.setItem(PREVIEW_KEY, on ? "on" : "off"); } catch (err) { /* private mode */ }
    command("LIVE_PREVIEW", on);
    if (!on) { $("preview-box").classList.remove("has-frame"); $("preview-info").textContent = ""; }
  }

  $("preview-toggle").addEventListener("click", () => setPreview(!previewOn()));
  try { if (localStorage.getItem(PREVIEW_KEY) === "off") setPreview(false); } catch (err) { /* private mode */ }

  // ---------------------------------------------------------------- life cycle
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !ws) { retry = 0; connect(); }
  });
  window.addEventListener("online", () => { if (!ws) { retry = 0; connect(); } });
  window.addEventListener("hashchange", () => showPage(location.hash.slice(1)));
  window.addEventListener("resize", centerTab);

  remote.showPage = showPage;
  remote.encodeOsc = encodeOsc;
  remote.decodeOsc = decodeOsc;
  remote.send = send;
  loadLayout(false);
})();
