// artgan studio: live pages fed by the server's events (/events); everything else is server-rendered.
"use strict";

const $ = (selector) => document.querySelector(selector);
const data = (id) => JSON.parse(document.getElementById(id).textContent);
const enc = encodeURIComponent;
const snapshotUrl = (run, step) => `/files/runs/${enc(run)}/snapshots/${step}.png`;

// Mark pictures and films shown larger than they are (in device pixels), to draw them pixel-sharp
// (studio.css says why only those).
function markEnlarged(element) {
  const natural = element.naturalWidth ?? element.videoWidth;
  const shown = element.getBoundingClientRect().width * window.devicePixelRatio;
  element.classList.toggle("enlarged", natural > 0 && shown > natural + 0.5);
}
const markAll = () => document.querySelectorAll("img, video").forEach(markEnlarged);
for (const loaded of ["load", "loadedmetadata"]) {  // neither bubbles: caught on the way down
  document.addEventListener(loaded, (event) => { if (event.target.matches?.("img, video")) markEnlarged(event.target); }, true);
}
window.addEventListener("resize", markAll);
markAll();

// The studio's server can stop (Ctrl-C, a closed terminal) while a page is open: the page says
// so instead of failing, and carries on once the server answers again.
const offline = (down) => { $("#offline").hidden = !down; };

// fetch, or null when the server does not answer (offline() has said so).
async function request(url, init) {
  try {
    const response = await fetch(url, init);
    offline(false);
    return response;
  } catch {
    offline(true);
    return null;
  }
}

// The server's JSON answer, or {error: its text} when it answered in plain text (a 404 for a run
// deleted meanwhile, a 400).
async function answerOf(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return {error: text};
  }
}

// The server's events, each to ``handle``, and {kind: "reconnected"} when the stream is back after
// a drop (the studio restarted), to catch up on what the page missed. The studio's pages of a
// browser share one stream (static/events.js, a SharedWorker): a browser keeps at most 6
// connections to one server, and with a stream per page the seventh page would never load.
function live(handle) {
  if (!window.SharedWorker) { liveAlone(handle); return; }
  let port = null;
  const join = () => {
    port = new SharedWorker("/static/events.js").port;
    port.onmessage = ({data: event}) => {
      if (event.kind === "offline" || event.kind === "online") offline(event.kind === "offline");
      else handle(event);
    };
    port.postMessage("join");
  };
  window.addEventListener("pagehide", () => port.postMessage("leave"));  // closed, or left for another page
  window.addEventListener("pageshow", (shown) => {  // back from the browser's back-forward cache
    if (shown.persisted) { join(); handle({kind: "reconnected"}); }
  });
  join();
}

// Without SharedWorker, a stream of the page's own, which the browser reconnects by itself. A page
// out of sight (a tab behind another) lets it go and catches up when shown again, so that the
// seventh tab of the studio still loads.
function liveAlone(handle) {
  let source = null, dropped = document.hidden;
  const open = () => {
    source = new EventSource("/events");
    source.onmessage = (message) => handle(JSON.parse(message.data));
    source.onerror = () => { dropped = true; offline(true); };
    source.onopen = () => {
      offline(false);
      if (dropped) { dropped = false; handle({kind: "reconnected"}); }
    };
  };
  document.addEventListener("visibilitychange", () => {
    if (document.hidden && source) { source.close(); source = null; dropped = true; }
    if (!document.hidden && !source) open();
  });
  if (!document.hidden) open();
}

// Run ``work`` at most once at a time and at most every ``gap`` ms: events come in bursts.
function throttled(work, gap = 1000) {
  let running = false, again = false, last = 0;
  return async function run() {
    if (running) { again = true; return; }
    running = true;
    await new Promise((wait) => setTimeout(wait, Math.max(0, last + gap - Date.now())));
    try { await work(); } finally {
      last = Date.now();
      running = false;
      if (again) { again = false; run(); }
    }
  };
}

// Replace a part of the page with the server's HTML for it, keeping the boxes ticked in it.
const refresher = (url, target, gap = 300) => throttled(async () => {
  const response = await request(url);
  if (!response?.ok) return;
  const ticked = [...target.querySelectorAll("input:checked")].map((box) => box.value);
  target.innerHTML = await response.text();
  target.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = ticked.includes(box.value); });
}, gap);

// A range input over a list of steps: arrow keys step (native), ▶ plays them as a flip-book.
function scrubber(show) {
  const range = $("#scrub"), play = $("#play");
  let timer = null;
  range.addEventListener("input", () => show(Number(range.value), true));
  play.addEventListener("click", () => {
    if (timer) { clearInterval(timer); timer = null; play.textContent = "▶"; play.setAttribute("aria-label", "play"); return; }
    play.textContent = "❚❚";
    play.setAttribute("aria-label", "pause");
    timer = setInterval(() => {
      range.value = Number(range.value) >= Number(range.max) ? 0 : Number(range.value) + 1;
      show(Number(range.value), true);
    }, 120);
  });
  return range;
}

function gallery() {
  const refresh = refresher("/?part=cards", $("#cards"));
  $("#compare-form").addEventListener("submit", (submitted) => {  // nothing ticked: said here, not a 404 page
    const none = !$("#cards input:checked");
    $("#compare-none").hidden = !none;
    if (none) submitted.preventDefault();
  });
  live((event) => { if (event.kind !== "job") refresh(); });
}

function runPage() {
  const run = data("run-data"), steps = run.snapshots;
  const shot = $("#shot"), follow = $("#follow"), label = $("#shown-step");
  const show = (index, byHand) => {
    if (!steps.length) return;
    if (byHand) follow.checked = index === steps.length - 1;
    shot.hidden = false;
    shot.src = snapshotUrl(run.name, steps[index]);
    label.textContent = `step ${steps[index]}`;
    shot.alt = `snapshot at ${label.textContent}`;
    range.setAttribute("aria-valuetext", label.textContent);
    document.body.dataset.shownStep = steps[index];
  };
  const range = scrubber(show);
  const bestButton = $("#best-step"), bestMark = $("#best-mark");
  bestButton.addEventListener("click", () => { range.value = steps.indexOf(Number(bestButton.textContent)); show(Number(range.value), true); });
  const markBest = () => {  // a star above the scrubber where the samples were most varied
    const index = steps.indexOf(Number(bestButton.textContent));
    bestMark.hidden = index < 0 || bestButton.textContent === "";
    const share = steps.length > 1 ? index / (steps.length - 1) : 0;
    bestMark.style.left = `calc(8px + (100% - 16px) * ${share})`;
  };
  markBest();
  if (steps.length) show(steps.length - 1, false);
  const addStep = (step) => {
    if (steps.includes(step)) return;
    steps.push(step);
    steps.sort((a, b) => a - b);
    range.max = steps.length - 1;
    markBest();
    if ($("#noshot")) $("#noshot").remove();
    if (follow.checked) { range.value = steps.length - 1; show(steps.length - 1, false); }
  };
  // What the run gained since the page last asked: its step and state, its snapshots (all of them
  // after the page missed events, else those after its newest) and the charts' new lines (the
  // server's thinned rows replace the page's from index start on; events are added).
  const charts = metricCharts($("#charts"));
  let cursor = "", rows = [], events = [], missed = true;
  const load = throttled(async () => {
    const after = missed || !steps.length ? "" : `&after=${steps[steps.length - 1]}`;
    missed = false;
    const response = await request(`/api/runs/${enc(run.name)}/live?since=${enc(cursor)}${after}`);
    if (response?.status === 404) {  // its folder was deleted (or renamed) since the page opened
      $("#gone").hidden = false;
      $("#state").textContent = $("#state").className = "deleted";
      $("#state").classList.add("state");
    }
    if (!response?.ok) return;
    const {summary, snapshots, metrics} = await response.json();
    snapshots.forEach(addStep);
    if (metrics.reset) events = [];
    rows.splice(metrics.start, Infinity, ...metrics.rows);
    events.push(...metrics.events);
    cursor = metrics.cursor;
    charts(rows, events, metrics.best);
    $("#step").textContent = summary.step;
    $("#state").textContent = $("#state").className = summary.state;
    $("#state").classList.add("state");
    if (metrics.best) { bestButton.textContent = metrics.best.step; $("#best").hidden = false; }
    markBest();
  });
  load();
  const films = refresher(`/runs/${enc(run.name)}?part=films`, $("#films"));
  live((event) => {
    if (event.kind === "reconnected") {
      missed = true;
      load();
      films();
    } else if (event.run !== run.name) {
      return;
    } else if (event.kind === "snapshot") {
      addStep(event.step);
    } else if (event.kind === "metrics" || event.kind === "state") {
      load();
    } else if (event.kind === "film") {
      films();
    }
  });
}

// One uPlot chart per group of columns: losses, the diversity of snapshots (with the most varied
// one, ``best``, which thinning may leave out of ``events``), speed, and the rest. Drawn again,
// the charts are those and in the order a page opened now would draw (a resume that forgot lines
// may take a column away).
function metricCharts(holder) {
  let plots = new Map();  // "title: columns" → its uPlot
  return (losses, events, best) => {
    const shots = events.filter((row) => row.event === "snapshot");
    if (best && !shots.some((shot) => shot.step === best.step && shot.diversity === best.diversity)) {
      const after = shots.findIndex((shot) => shot.step > best.step);
      shots.splice(after < 0 ? shots.length : after, 0, best);
    }
    const columns = [...new Set(losses.flatMap(Object.keys))].filter((key) => !["step", "images_seen", "seconds"].includes(key));
    const groups = {"losses": columns.filter((key) => key.startsWith("loss")), "images/s": columns.filter((key) => key === "images_per_s")};
    columns.filter((key) => !key.startsWith("loss") && key !== "images_per_s").forEach((key) => groups[key] = [key]);
    const tables = Object.entries(groups).filter(([, keys]) => keys.length).map(([title, keys]) => [title, losses, keys]);
    if (shots.length) tables.splice(1, 0, ["diversity of the samples (1 = as varied as the dataset)", shots, ["diversity"]]);
    const drawn = new Map();
    for (const [title, table, keys] of tables) {
      const id = `${title}: ${keys}`, series = [table.map((row) => row.step), ...keys.map((key) => table.map((row) => row[key] ?? null))];
      let plot = plots.get(id);
      if (plot) {
        plot.setData(series);
      } else {
        const box = document.createElement("div"), colours = ["#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#495057"];
        box.className = "chart";
        box.dataset.chart = title;
        holder.append(box);
        plot = new uPlot({
          title, width: Math.min(560, holder.clientWidth || 560), height: 200,
          scales: {x: {time: false}},
          series: [{label: "step"}, ...keys.map((key, i) => ({label: key, stroke: colours[i % colours.length], width: 1.5, spanGaps: true}))],
        }, series, box);
      }
      drawn.set(id, plot);
      holder.append(plot.root.parentNode);
    }
    plots.forEach((plot, id) => {
      if (drawn.has(id)) return;
      const box = plot.root.parentNode;
      plot.destroy();
      box.remove();
    });
    plots = drawn;
  };
}

function comparePage() {
  const runs = data("compare-data");
  const all = [...new Set(Object.values(runs).flat())].sort((a, b) => a - b);
  const label = $("#shown-step");
  const show = (index) => {
    const step = all[index];
    label.textContent = step ?? "";
    range.setAttribute("aria-valuetext", step === undefined ? "no snapshot" : `step ${step}`);
    document.body.dataset.shownStep = step;
    for (const figure of document.querySelectorAll(".compare figure")) {
      const own = runs[figure.dataset.run].filter((s) => s <= step);
      const img = figure.querySelector("img");
      if (!own.length) { img.hidden = true; figure.querySelector(".at").textContent = "not there yet"; continue; }
      const at = own[own.length - 1];
      img.hidden = false;
      img.src = snapshotUrl(figure.dataset.run, at);
      img.alt = `${figure.dataset.run} at step ${at}`;
      img.dataset.step = at;
      figure.querySelector(".at").textContent = at === step ? "" : `(step ${at})`;
    }
  };
  const range = scrubber(show);
  range.max = Math.max(all.length - 1, 0);
  range.value = range.max;
  show(Number(range.value));
  const addStep = (name, step) => {
    if (runs[name].includes(step)) return;
    runs[name].push(step);
    if (!all.includes(step)) { all.push(step); all.sort((a, b) => a - b); range.max = all.length - 1; }
  };
  live(async (event) => {
    if (event.kind === "snapshot" && event.run in runs) addStep(event.run, event.step);
    if (event.kind !== "reconnected") return;
    for (const name of Object.keys(runs)) {  // the snapshots whose events were missed
      const response = await request(`/api/runs/${enc(name)}`);
      if (response?.ok) (await response.json()).snapshots.forEach((step) => addStep(name, step));
    }
  });
}

function composerPage() {
  const {name, rendering} = data("composer-data");
  if (!$("#samples")) return;
  const perPage = 16, keyframes = [];
  let first = 0;
  const form = $("#film-form"), truncation = $("#truncation");
  const options = () => ({
    step: $("#step").value, seeds: keyframes, truncation: Number(truncation.value),
    seconds: Number(form.seconds.value), fps: Number(form.fps.value), size: Number(form.size.value),
    grid: Number(form.grid.value), easing: form.easing.value, loop: form.loop.checked, gif: form.gif.checked,
  });
  const post = (path) => request(`/api/runs/${enc(name)}/${path}`, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(options())});
  const say = (text) => { $("#error").hidden = !text; $("#error").textContent = text || ""; };
  const updateCommand = async () => {
    if (keyframes.length < 2) { $("#command").textContent = "(pick at least two keyframes)"; return; }
    const response = await post("command");
    if (!response) return;
    const answer = await answerOf(response);
    $("#command").textContent = answer.command || "";
    say(answer.error);
  };
  const drawKeyframes = (focused = -1) => {
    const box = $("#keyframes");
    box.innerHTML = "";
    keyframes.forEach((seed, i) => {
      box.appendChild(sampleButton(seed, `keyframe ${i + 1}, seed ${seed}: click to remove`,
        () => { keyframes.splice(i, 1); drawKeyframes(i); }));
    });
    box.children[Math.min(focused, box.children.length - 1)]?.focus();  // taken out by keyboard: the next one
    updateCommand();
  };
  // A sample as a button (a click, Enter or Space picks it), its picture described by its seed.
  const sampleButton = (seed, title, pick) => {
    const button = document.createElement("button"), img = document.createElement("img");
    img.src = `/files/runs/${enc(name)}/samples/${seed}.png?step=${$("#step").value}&truncation=${truncation.value}`;
    img.dataset.seed = seed;
    img.alt = `seed ${seed}`;
    button.type = "button";
    button.title = title;
    button.append(img);
    button.addEventListener("click", pick);
    return button;
  };
  const drawSamples = () => {
    $("#seed-range").textContent = `${first}–${first + perPage - 1}`;
    const box = $("#samples");
    box.innerHTML = "";
    for (let seed = first; seed < first + perPage; seed++) {
      box.appendChild(sampleButton(seed, `seed ${seed}: click to add`, () => { keyframes.push(seed); drawKeyframes(); }));
    }
  };
  $("#prev").addEventListener("click", () => { first = Math.max(0, first - perPage); drawSamples(); });
  $("#next").addEventListener("click", () => { first += perPage; drawSamples(); });
  truncation.addEventListener("change", () => { $("#truncation-value").textContent = truncation.value; drawSamples(); drawKeyframes(); });
  $("#step").addEventListener("change", () => { drawSamples(); drawKeyframes(); });
  form.addEventListener("change", updateCommand);
  const films = refresher(`/runs/${enc(name)}?part=films`, $("#films"));
  let job = rendering;  // the page's film (id and command); when it opens, the run's film rendering (a reload)
  const jobStates = {
    queued: (event) => `queued: ${event.ahead} film${event.ahead === 1 ? "" : "s"} to render before it`,
    rendering: () => "rendering", cancelled: () => "cancelled: nothing was written",
    lost: () => "the studio stopped before it was done: nothing was written; render it again",
  };
  const showJob = (event) => {
    $("#job-state").hidden = !(event.state in jobStates);
    $("#job-state").textContent = jobStates[event.state]?.(event) ?? "";
    $("#cancel").hidden = !["queued", "rendering"].includes(event.state);
    if (event.total) { $("#progress").max = event.total; $("#progress").value = event.done; }
    if (event.state === "failed") say(event.error);
    if (event.state === "done") $("#progress").value = $("#progress").max;
  };
  const follow = (answer) => {
    job = answer;
    $("#progress").hidden = false;
    $("#progress").value = 0;
    showJob(answer);
  };
  if (job) follow(job);
  const ours = (event) => event.id === job?.id && event.command === job.command;  // ids start again with the studio
  let sending = false;
  $("#render").addEventListener("click", (clicked) => { if (clicked.detail > 1) clicked.preventDefault(); });  // a double click: one film
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    if (keyframes.length < 2) { say("pick at least two keyframes (click samples)"); return; }
    if (sending) return;
    sending = true;
    const response = await post("compose").finally(() => { sending = false; });
    if (!response) return;
    const answer = await answerOf(response);
    if (!response.ok) { say(answer.error); return; }
    say("");
    follow(answer);
  });
  $("#cancel").addEventListener("click", () => request(`/api/jobs/${job.id}/cancel`, {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}));
  // The checkpoints as training writes and prunes them (keep_checkpoints): one pruned while chosen
  // gives way to the newest, said, rather than samples that no longer load.
  const checkpoints = async () => {
    const response = await request(`/api/runs/${enc(name)}/checkpoints`);
    if (!response?.ok) return;
    const steps = (await response.json()).reverse(), select = $("#step"), chosen = Number(select.value);
    if (!steps.length || steps.join() === [...select.options].map((option) => option.value).join()) return;
    select.replaceChildren(...steps.map((step) => new Option(`step ${step}`, step)));
    if (steps.includes(chosen)) { select.value = chosen; return; }
    say(`the checkpoint of step ${chosen} is gone (training keeps the newest, train.keep_checkpoints): showing step ${steps[0]}`);
    drawSamples();
    drawKeyframes();
  };
  live(async (event) => {
    if (event.kind === "state" && event.run === name) checkpoints();
    if (event.kind === "reconnected") {  // the page was out of sight, or the studio restarted
      checkpoints();
      films();
      if (!job) return;
      const response = await request(`/api/jobs/${job.id}`);
      const answer = response?.ok ? await response.json() : {};
      if (response) showJob(ours(answer) ? answer : {state: "lost"});
    }
    if (event.kind !== "job") return;
    if (event.state === "done" && event.run === name) films();  // also a film queued before this one
    if (ours(event)) showJob(event);
  });
  drawSamples();
  updateCommand();
}

({gallery, run: runPage, compare: comparePage, composer: composerPage})[document.body.dataset.page]?.();
