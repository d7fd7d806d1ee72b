// artgan studio: the one event stream (/events) that every studio page of a browser shares, as a
// SharedWorker (studio.js live() connects each page). A browser keeps at most 6 connections to one
// server: with a stream per page, the seventh page open would never load.
// Each page that joined gets every event, {kind: "offline"} and {kind: "online"} as the stream
// drops and comes back, and {kind: "reconnected"} after a drop, to catch up on what it missed.
// A page leaves as it goes (pagehide); the stream closes when no page is left.
"use strict";

const pages = new Set();
let source = null, dropped = false;

const tell = (event, to = pages) => to.forEach((port) => port.postMessage(event));

function open() {
  source = new EventSource("/events");
  source.onmessage = (message) => tell(JSON.parse(message.data));
  source.onerror = () => { dropped = true; tell({kind: "offline"}); };
  source.onopen = () => {
    tell({kind: "online"});
    if (dropped) { dropped = false; tell({kind: "reconnected"}); }
  };
}

onconnect = ({ports: [port]}) => {
  port.onmessage = ({data}) => {
    if (data === "join") {
      pages.add(port);
      if (!source) open();
      else if (dropped) tell({kind: "offline"}, [port]);
    } else if (data === "leave" && pages.delete(port) && !pages.size) {
      source.close();
      source = null;
      dropped = false;
    }
  };
};
