// One websocket per run page: a snapshot, then events. It remembers the last `seq` and on
// reconnect (exponential backoff) asks for what it missed with ?last=, or takes a snapshot.

const FORBIDDEN = 4403;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const PING_EVERY_MS = 25000;

export class RunSocket {
  /**
   * path: "/ws/runs/<pk>/"; handlers: onSnapshot(run), onEvent(event), onState(state) where
   * state is "connecting", "live", "reconnecting" or "refused".
   */
  constructor(path, { onSnapshot, onEvent, onState }) {
    this.path = path;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onState = onState ?? (() => {});
    this.last = null;
    this.delay = FIRST_DELAY_MS;
    this.socket = null;
    this.retry = 0;
    this.ping = 0;
    this.stopped = false;
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const query = this.last ? `?last=${encodeURIComponent(this.last)}` : "";
    return `${scheme}://${window.location.host}${this.path}${query}`;
  }

  connect() {
    this.onState(this.last ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (event) => this.closed(event));
    socket.addEventListener("open", () => {
      this.ping = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, PING_EVERY_MS);
    });
    return this;
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "pong") return;
    this.delay = FIRST_DELAY_MS;
    this.onState("live");
    if (frame.seq) this.last = frame.seq;
    if (frame.type === "snapshot") this.onSnapshot(frame.run);
    else this.onEvent(frame);
  }

  closed(event) {
    clearInterval(this.ping);
    if (this.stopped) return;
    if (event.code === FORBIDDEN) {
      this.onState("refused");
      return;
    }
    this.onState("reconnecting");
    const wait = this.delay * (0.75 + Math.random() / 2);
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    this.retry = setTimeout(() => this.connect(), wait);
  }

  /** Drop the connection as if the network blipped (tests and the bench use it). */
  drop() {
    this.socket?.close();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    this.socket?.close();
  }
}
