// The Cramjet page: a chat with the served model and a live view of a training run. Everything it needs comes from
// the server that served it (no CDN), so it works offline. Streams are read with fetch() so the API key can travel
// in the Authorization header (EventSource cannot send headers).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem("cramjet-key") || "", messages: [], abort: null, info: null };

function status(text) { $("status").textContent = text; }

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.key) headers["Authorization"] = "Bearer " + state.key;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    await askKey();
    return api(path, options);
  }
  return response;
}

function askKey() {
  return new Promise((resolve) => {
    const dialog = $("key-dialog");
    $("key-form").onsubmit = () => {
      state.key = $("key").value.trim();
      sessionStorage.setItem("cramjet-key", state.key);
      resolve();
    };
    dialog.showModal();
    $("key").focus();
  });
}

/** Calls onData(text) for each server-sent event's data, until the stream ends. */
async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data) onData(data);
    }
  }
}

// ---- views ---------------------------------------------------------------------------------------------------

function show(view) {
  for (const name of ["chat", "run"]) {
    const on = name === view;
    $(name).hidden = !on;
    $("tab-" + name).setAttribute("aria-selected", String(on));
  }
  if (view === "chat") $("prompt").focus();
}

function setUpTabs() {
  const tabs = [$("tab-chat"), $("tab-run")];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => show(tab.getAttribute("aria-controls")));
    tab.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const visible = tabs.filter((t) => !t.hidden);
      const next = visible[(visible.indexOf(tab) + (e.key === "ArrowRight" ? 1 : visible.length - 1)) % visible.length];
      next.focus();
      next.click();
    });
  });
}

// ---- chat ----------------------------------------------------------------------------------------------------

function addMessage(role, text) {
  const li = document.createElement("li");
  li.className = role;
  const label = document.createElement("span");
  label.className = "role";
  label.textContent = role;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  li.append(label, body);
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
  return body;
}

function busy(on) {
  $("send").disabled = on;
  $("stop").disabled = !on;
}

async function send() {
  const text = $("prompt").value.trim();
  if (!text || state.abort) return;
  $("prompt").value = "";
  state.messages.push({ role: "user", content: text });
  addMessage("user", text);
  const out = addMessage("assistant", "");
  const messages = [];
  const system = $("system").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push(...state.messages);
  const body = {
    model: state.info.model, messages, stream: true, stream_options: { include_usage: true },
    temperature: Number($("temperature").value), top_p: Number($("top-p").value),
    max_tokens: Math.max(1, Number($("max-tokens").value) || 200),
  };
  // A seed makes a reply repeatable (the API's "same seed, same text"); empty leaves sampling random.
  const seed = $("seed").value.trim();
  if (seed !== "") body.seed = Number(seed);
  state.abort = new AbortController();
  busy(true);
  status("generating…");
  let reply = "", finish = "", usage = null;
  const started = performance.now();
  try {
    const response = await api("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal: state.abort.signal,
    });
    if (!response.ok) {
      const err = await response.json().catch(() => ({}));
      throw new Error((err.error && err.error.message) || response.statusText);
    }
    await readEvents(response, (data) => {
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices || []) {
        if (c.delta && c.delta.content) {
          reply += c.delta.content;
          out.textContent = reply;
          out.parentElement.scrollIntoView({ block: "end" });
        }
        if (c.finish_reason) finish = c.finish_reason;
      }
    });
    const seconds = (performance.now() - started) / 1000;
    status(`done (${finish || "stopped"})` + (usage ? `: ${usage.completion_tokens} tokens in ${seconds.toFixed(1)} s` : ""));
  } catch (e) {
    if (e.name === "AbortError") status("stopped");
    else {
      out.parentElement.classList.add("error");
      status("error: " + e.message);
    }
  } finally {
    if (reply) state.messages.push({ role: "assistant", content: reply });
    state.abort = null;
    busy(false);
  }
}

function setUpChat() {
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); send(); });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
  });
  $("stop").addEventListener("click", () => state.abort && state.abort.abort());
  $("clear").addEventListener("click", () => {
    state.messages = [];
    $("messages").replaceChildren();
    status("");
    $("prompt").focus();
  });
  for (const id of ["temperature", "top-p"]) {
    $(id).addEventListener("input", () => { $(id + "-value").textContent = $(id).value; });
  }
}

// ---- the run view ------------------------------------------------------------------------------------------------

const run = { train: [], evals: [], lr: [], tps: [], samples: [], last: null, pending: false };

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

/** Draws line series [{points: [[x, y]...], color}] with min/max labels on both axes. */
function chart(canvas, series) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = { l: 56, r: 10, t: 10, b: 24 };
  ctx.clearRect(0, 0, w, h);
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  canvas.dataset.points = String(all.length);
  ctx.fillStyle = css("--muted");
  ctx.font = "12px system-ui, sans-serif";
  if (all.length === 0) { ctx.fillText("no data yet", pad.l, h / 2); return; }
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => pad.l + (x - x0) / (x1 - x0) * (w - pad.l - pad.r);
  const Y = (y) => h - pad.b - (y - y0) / (y1 - y0) * (h - pad.t - pad.b);
  ctx.strokeStyle = css("--border");
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, h - pad.b); ctx.lineTo(w - pad.r, h - pad.b);
  ctx.stroke();
  const fmt = (v) => Math.abs(v) >= 1000 ? v.toExponential(2) : Math.abs(v) < 0.01 ? v.toExponential(1) : v.toFixed(3);
  ctx.fillText(fmt(y1), 2, pad.t + 10);
  ctx.fillText(fmt(y0), 2, h - pad.b);
  ctx.fillText(String(x0), pad.l, h - 6);
  ctx.fillText(String(x1), w - pad.r - ctx.measureText(String(x1)).width, h - 6);
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length === 0) continue;
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    pts.forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1]))));
    ctx.stroke();
    if (pts.length < 40) for (const p of pts) { ctx.beginPath(); ctx.arc(X(p[0]), Y(p[1]), 2.5, 0, 7); ctx.fill(); }
  }
}

function stat(name, value) {
  const div = document.createElement("div");
  const dt = document.createElement("dt"), dd = document.createElement("dd");
  dt.textContent = name;
  dd.textContent = value;
  div.append(dt, dd);
  return div;
}

function redraw() {
  run.pending = false;
  chart($("loss-chart"), [{ points: run.train, color: "#1f77b4" }, { points: run.evals, color: "#ff7f0e" }]);
  chart($("lr-chart"), [{ points: run.lr, color: "#2ca02c" }]);
  chart($("tps-chart"), [{ points: run.tps, color: "#9467bd" }]);
  const t = run.last, stats = [];
  if (t) {
    stats.push(stat("step", String(t.step)), stat("training loss", Number(t.loss).toFixed(4)));
    if (run.evals.length) stats.push(stat("validation loss", run.evals[run.evals.length - 1][1].toFixed(4)));
    if (t.tokens_per_s != null) stats.push(stat("tokens/s", Math.round(t.tokens_per_s).toLocaleString()));
    if (t.lr != null) stats.push(stat("learning rate", Number(t.lr).toExponential(2)));
    if (t.elapsed_s != null) stats.push(stat("elapsed", (t.elapsed_s / 60).toFixed(1) + " min"));
  }
  $("run-stats").replaceChildren(...stats);
  const list = run.samples.slice(-5).reverse().map((s) => {
    const li = document.createElement("li");
    li.textContent = `step ${s.step}: ${s.text}`;
    return li;
  });
  $("samples").replaceChildren(...list);
}

function record(line) {
  let r;
  try { r = JSON.parse(line); } catch { return; }
  if (r.type === "train") {
    run.train.push([r.step, r.loss]);
    if (r.lr != null) run.lr.push([r.step, r.lr]);
    if (r.tokens_per_s != null) run.tps.push([r.step, r.tokens_per_s]);
    run.last = r;
  } else if (r.type === "eval" && r.val_loss != null) {
    run.evals.push([r.step, r.val_loss]);
  } else if (r.type === "sample") {
    run.samples.push(r);
  }
  if (!run.pending) { run.pending = true; requestAnimationFrame(redraw); }
}

async function watchRun() {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await api("/api/run/metrics");
      if (!response.ok) return;
      for (const k of ["train", "evals", "lr", "tps", "samples"]) run[k] = [];
      await readEvents(response, record);
    } catch (e) { /* the server went away: try again below */ }
    status("run view: reconnecting…");
    await new Promise((r) => setTimeout(r, Math.min(10000, 1000 * (attempt + 1))));
  }
}

// ---- start ---------------------------------------------------------------------------------------------------

async function start() {
  setUpTabs();
  setUpChat();
  const response = await api("/api/info");
  state.info = await response.json();
  if (!state.info.model) {
    $("tab-chat").hidden = true;
    $("chat").hidden = true;
  }
  if (!state.info.run) $("tab-run").hidden = true;
  else {
    $("run-name").textContent = "Run: " + state.info.run;
    watchRun();
  }
  show(state.info.model ? "chat" : "run");
  status(state.info.model ? "model: " + state.info.model : "");
  redraw();
}

start();
