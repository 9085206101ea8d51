// The door page (签到). Without this script the form posts each ticket and the page
// shows the result. With it, every scan (typed, from a scanner, or from the camera
// where the browser has BarcodeDetector) is first checked here with the events'
// Ed25519 public key (the page's data-ticket-key; the ticket format is
// handlers/events/tickets.py's), kept in localStorage, and sent to the server as one
// batch; a scan leaves storage only once the server has answered for it, so a village
// hall without signal loses nothing, and sending again is harmless (the server checks
// each sign-up in once, at its earliest scan).
"use strict";
(function () {
  var door = document.getElementById("door");
  if (!door || !window.fetch || !window.TextEncoder) { return; }

  var eventId = door.getAttribute("data-event-id");
  var keyText = door.getAttribute("data-ticket-key");
  var scansUrl = door.getAttribute("data-scans-url");
  var loginUrl = door.getAttribute("data-login-url");
  var form = document.getElementById("door-form");
  var input = form.elements.namedItem("ticket");
  var token = form.elements.namedItem("csrf_token").value;
  var resultBox = document.getElementById("door-result");
  var pendingList = document.getElementById("pending");
  var pendingCount = document.getElementById("pending-count");
  var resultsList = document.getElementById("results");
  var retry = document.getElementById("retry");
  var network = document.getElementById("network");
  var offlineNote = document.getElementById("offline-note");

  var STORE = "jiangxin.door." + eventId;
  var PREFIX = "T1.";
  var CONTEXT = new TextEncoder().encode("jiangxin-ticket:v1");
  var TICKET_BYTES = 88; // event id 12 + sign-up id 12 + signature 64
  var MAX_CHARS = 200;
  var MAX_BATCH = 500; // the server's limit of one batch
  var LABELS = {
    attended: "已签到",
    already_attended: "已经签到过",
    ticket_invalid: "无效票",
    scan_time_invalid: "扫描时间无效"
  };
  var memory = []; // where scans stay if this browser keeps no localStorage
  var storageWorks = true;
  var sending = false;

  // -- the scans kept in this browser -------------------------------------------------

  function wellFormed(scan) {
    return scan && typeof scan.ticket === "string" && typeof scan.scanned_at === "string";
  }

  function load() {
    try {
      var raw = window.localStorage.getItem(STORE);
      var scans = raw ? JSON.parse(raw) : [];
      return Array.isArray(scans) ? scans.filter(wellFormed) : [];
    } catch (error) {
      return memory.slice();
    }
  }

  function save(scans) {
    memory = scans.slice();
    try {
      if (scans.length) {
        window.localStorage.setItem(STORE, JSON.stringify(scans));
      } else {
        window.localStorage.removeItem(STORE);
      }
      storageWorks = true;
    } catch (error) {
      storageWorks = false; // kept in memory: the page must stay open until sent
    }
  }

  function same(a, b) { return a.ticket === b.ticket && a.scanned_at === b.scanned_at; }

  // -- the ticket, checked here -------------------------------------------------------

  function fromBase64Url(text) {
    var binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes;
  }

  function toBase64Url(bytes) {
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function hex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) { out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16); }
    return out;
  }

  var keyPromise = null;
  function publicKey() {
    if (keyPromise === null) {
      var subtle = window.crypto && window.crypto.subtle; // a secure context only (HTTPS)
      keyPromise = subtle
        ? subtle.importKey("raw", fromBase64Url(keyText), { name: "Ed25519" }, false, ["verify"])
          .catch(function () { return null; })
        : Promise.resolve(null);
    }
    return keyPromise;
  }

  // "ok" (ours, signed, for this event), "unverified" (well formed, but this browser
  // cannot check signatures), "other_event" or "invalid".
  function checkLocally(ticket) {
    if (ticket.length > MAX_CHARS || ticket.indexOf(PREFIX) !== 0) { return Promise.resolve("invalid"); }
    var encoded = ticket.slice(PREFIX.length);
    var raw;
    try {
      if (!/^[A-Za-z0-9_-]+$/.test(encoded)) { return Promise.resolve("invalid"); }
      raw = fromBase64Url(encoded);
    } catch (error) {
      return Promise.resolve("invalid");
    }
    // One spelling per ticket, as the server reads it (no padding, no stray bits).
    if (raw.length !== TICKET_BYTES || toBase64Url(raw) !== encoded) { return Promise.resolve("invalid"); }
    var body = raw.subarray(0, 24);
    var forThisEvent = hex(body.subarray(0, 12)) === eventId;
    return publicKey().then(function (key) {
      if (key === null) { return forThisEvent ? "unverified" : "other_event"; }
      var signed = new Uint8Array(CONTEXT.length + body.length);
      signed.set(CONTEXT);
      signed.set(body, CONTEXT.length);
      return window.crypto.subtle.verify({ name: "Ed25519" }, key, raw.subarray(24), signed)
        .then(function (good) {
          if (!good) { return "invalid"; }
          return forThisEvent ? "ok" : "other_event";
        }, function () { return "invalid"; });
    });
  }

  // -- what the page shows ------------------------------------------------------------

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function show(kind, title, detail, link) {
    resultBox.className = "door-result " + kind;
    resultBox.hidden = false;
    resultBox.replaceChildren(element("p", "big", title));
    if (detail) { resultBox.appendChild(element("p", "", detail)); }
    if (link) {
      var anchor = element("a", "button", link.text);
      anchor.href = link.href;
      resultBox.appendChild(anchor);
    }
  }

  var clock = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });
  function when(iso) { return clock.format(new Date(iso)); }
  function shortTicket(ticket) { return "票号 …" + ticket.slice(-8); }

  function describe(result) {
    var who = result.name ? result.name + (result.phone ? "（" + result.phone + "）" : "") : "";
    if (result.result === "attended") { return who; }
    if (result.result === "already_attended") {
      return who + " 已于 " + when(result.attended_at) + (result.by ? " 由 " + result.by : "") + " 签到";
    }
    if (result.result === "scan_time_invalid") { return "扫描时间不对：请检查本机的日期和时间"; }
    return "票据是伪造的、已取消，或不是本场活动的票";
  }

  var KINDS = { attended: "ok", already_attended: "warn" };

  function renderPending() {
    var scans = load();
    pendingCount.textContent = String(scans.length);
    pendingList.replaceChildren.apply(pendingList, scans.map(function (scan) {
      var state = scan.verified ? "本机验证通过" : "未能在本机验证";
      return element("li", "pending", shortTicket(scan.ticket) + " · " + when(scan.scanned_at) + " · " + state + "，待上传");
    }));
    retry.hidden = scans.length === 0;
  }

  function renderNetwork() {
    var online = navigator.onLine;
    network.className = "network " + (online ? "online" : "offline");
    network.textContent = online ? "● 在线" : "● 离线：扫描先保存在本机，联网后自动上传";
  }

  // -- sending ------------------------------------------------------------------------

  function answered(batch, answer) {
    save(load().filter(function (kept) {
      return !batch.some(function (sent) { return same(sent, kept); });
    }));
    answer.results.forEach(function (result) {
      var scan = batch[result.index];
      var line = LABELS[result.result] + " · " + describe(result) + " · " + shortTicket(scan.ticket);
      resultsList.prepend(element("li", KINDS[result.result] || "bad", line));
    });
    document.querySelectorAll("[data-attended]").forEach(function (node) {
      node.textContent = String(answer.attendance.attended);
    });
    if (batch.length === 1) {
      var only = answer.results[0];
      show(KINDS[only.result] || "bad", LABELS[only.result], describe(only));
    } else {
      var counts = answer.counts;
      show("ok", "已上传 " + batch.length + " 条扫描记录",
        "已签到 " + counts.attended + "，已经签到过 " + counts.already_attended +
        "，无效 " + (counts.ticket_invalid + counts.scan_time_invalid));
    }
  }

  function failed(problem) {
    if (problem === "login") {
      show("bad", "需要重新登录", "扫描记录仍保存在本机，不会丢失；重新登录后回到本页会自动上传。",
        { href: loginUrl, text: "重新登录" });
    } else if (problem === "network") {
      show("warn", "已保存在本机", "网络不通：联网后自动上传。");
    } else {
      show("bad", "上传没有成功", "扫描记录仍保存在本机，请稍后点“立即上传”重试。");
    }
  }

  function send() {
    var batch = load().slice(0, MAX_BATCH);
    if (sending || !batch.length) { return Promise.resolve(); }
    sending = true;
    var scans = batch.map(function (scan) { return { ticket: scan.ticket, scanned_at: scan.scanned_at }; });
    return fetch(scansUrl, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual", // signed out: the sign-in page's redirect, not a page to parse
      headers: { "X-CSRF-Token": token },
      body: new URLSearchParams({ scans: JSON.stringify(scans) })
    }).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (response.ok && json) { return response.json(); }
      var signedOut = response.type === "opaqueredirect" || response.status === 401 || response.status === 403;
      throw new Error(signedOut ? "login" : "server");
    }).then(function (answer) {
      sending = false;
      answered(batch, answer);
      renderPending();
      if (load().length && navigator.onLine) { return send(); } // scanned meanwhile, or past a batch
      return undefined;
    }, function (error) {
      sending = false;
      failed(error instanceof TypeError ? "network" : error.message);
      renderPending();
    });
  }

  // -- a scan -------------------------------------------------------------------------

  // Resolves true when the scan is taken (kept, and sent when there is a network).
  function scan(text) {
    var ticket = text.trim();
    if (!ticket) {
      show("bad", "请输入票号", "");
      return Promise.resolve(false);
    }
    return checkLocally(ticket).then(function (verdict) {
      if (verdict === "invalid") {
        show("bad", "无效票", "本机验证未通过：票据是伪造的或不完整。");
        return false;
      }
      if (verdict === "other_event") {
        show("bad", "无效票", "这不是本场活动的票。");
        return false;
      }
      var scans = load();
      if (scans.some(function (kept) { return kept.ticket === ticket; })) {
        show("warn", "这张票刚才已扫过", "它在待上传的记录里，联网后一起上传。");
        return true;
      }
      scans.push({ ticket: ticket, scanned_at: new Date().toISOString(), verified: verdict === "ok" });
      save(scans);
      renderPending();
      var checked = verdict === "ok" ? "本机验证通过" : "未能在本机验证（由服务器验证）";
      if (!navigator.onLine) {
        show("warn", "已离线保存", checked + "，联网后自动上传。" + (storageWorks ? "" : "请勿关闭本页。"));
        return true;
      }
      show("wait", "正在签到…", checked);
      return send().then(function () { return true; });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    scan(input.value).then(function (taken) {
      if (taken) { input.value = ""; }
      input.focus();
    });
  });

  // -- the camera, where the browser reads QR codes -----------------------------------

  var camera = document.getElementById("camera");
  var cameraNote = document.getElementById("camera-note");
  var toggle = document.getElementById("camera-toggle");
  var video = document.getElementById("camera-video");
  var stream = null;
  var detector = null;
  var lastCode = "";
  var lastAt = 0;

  function noCamera(reason) {
    cameraNote.textContent = reason + "请用扫码枪或手动输入票号。";
    toggle.hidden = true;
  }

  function stopCamera() {
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
    stream = null;
    video.hidden = true;
    toggle.textContent = "打开摄像头";
  }

  function look() {
    if (!stream) { return; }
    detector.detect(video).then(function (codes) {
      var code = codes.length ? codes[0].rawValue : "";
      var now = Date.now();
      if (code && !(code === lastCode && now - lastAt < 3000)) { // the same code held up: once
        lastCode = code;
        lastAt = now;
        return scan(code);
      }
      return undefined;
    }).catch(function () { /* a frame not ready yet */ }).then(function () {
      if (stream) { setTimeout(look, 250); }
    });
  }

  toggle.addEventListener("click", function () {
    if (stream) { stopCamera(); return; }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        video.hidden = false;
        toggle.textContent = "关闭摄像头";
        return video.play();
      }).then(look, function (error) {
        stopCamera();
        cameraNote.textContent = "无法打开摄像头（" + (error && error.name ? error.name : "未知原因") + "）：请检查浏览器的摄像头权限，或手动输入票号。";
      });
  });

  camera.hidden = false;
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) {
    noCamera("此浏览器不支持摄像头扫码（没有 BarcodeDetector）：");
  } else {
    window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("qr_code") < 0) { noCamera("此浏览器不能识别二维码："); return; }
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      cameraNote.textContent = "打开摄像头，把入场码对准取景框即可签到。";
      toggle.hidden = false;
    }, function () { noCamera("此浏览器不支持摄像头扫码："); });
  }

  // -- offline ------------------------------------------------------------------------

  document.getElementById("offline").hidden = false;
  publicKey().then(function (key) {
    if (key === null) {
      offlineNote.textContent = "此浏览器不能在本机验证票据（需要 HTTPS 和较新的浏览器）：断网时扫描仍会保存在本机，联网后由服务器验证。";
    }
  });
  window.addEventListener("online", function () { renderNetwork(); send(); });
  window.addEventListener("offline", renderNetwork);
  window.addEventListener("storage", function (event) { if (event.key === STORE) { renderPending(); } });
  retry.addEventListener("click", function () {
    if (!navigator.onLine) { failed("network"); return; }
    show("wait", "正在上传…", "");
    send();
  });
  // A network that says it is up but answers nothing: try again now and then.
  setInterval(function () { if (navigator.onLine && load().length) { send(); } }, 30000);
  renderNetwork();
  renderPending();
  if (navigator.onLine) { send(); } // scans kept from before the page was opened
})();
