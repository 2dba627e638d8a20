/** Counters the node exposes in Prometheus text format. No labels with unbounded values. */
export class Metrics {
  private readonly httpResponses = new Map<string, number>();
  private mimRequests = 0;
  private mimErrors = 0;
  private imageUploads = 0;
  private websocketClients = 0;
  private websocketFramesSent = 0;
  private websocketFramesDropped = 0;
  private readonly started = Date.now();

  httpResponse(scope: 'mcm' | 'mim' | 'other', status: number): void {
    const key = `${scope}|${Math.floor(status / 100)}xx`;
    this.httpResponses.set(key, (this.httpResponses.get(key) ?? 0) + 1);
    if (scope === 'mim') {
      this.mimRequests++;
      if (status >= 500) this.mimErrors++;
    }
  }

  imageUploaded(): void {
    this.imageUploads++;
  }

  /** WebSocket clients connected to mims now. */
  websocketClientCount(n: number): void {
    this.websocketClients = n;
  }

  /** Event frames written to clients, and frames a client did not get (it was too far behind). */
  websocketFrames(sent: number, dropped: number): void {
    this.websocketFramesSent += sent;
    this.websocketFramesDropped += dropped;
  }

  uptimeSeconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  render(gauges: Record<string, number>): string {
    const lines: string[] = [];
    lines.push('# HELP mimoe_http_responses_total HTTP responses by scope and status class.');
    lines.push('# TYPE mimoe_http_responses_total counter');
    for (const [key, n] of [...this.httpResponses].sort()) {
      const [scope, cls] = key.split('|');
      lines.push(`mimoe_http_responses_total{scope="${scope ?? ''}",class="${cls ?? ''}"} ${n}`);
    }
    lines.push('# TYPE mimoe_mim_requests_total counter', `mimoe_mim_requests_total ${this.mimRequests}`);
    lines.push('# TYPE mimoe_mim_errors_total counter', `mimoe_mim_errors_total ${this.mimErrors}`);
    lines.push('# TYPE mimoe_image_uploads_total counter', `mimoe_image_uploads_total ${this.imageUploads}`);
    lines.push(
      '# TYPE mimoe_websocket_clients gauge',
      `mimoe_websocket_clients ${this.websocketClients}`,
      '# TYPE mimoe_websocket_frames_sent_total counter',
      `mimoe_websocket_frames_sent_total ${this.websocketFramesSent}`,
      '# TYPE mimoe_websocket_frames_dropped_total counter',
      `mimoe_websocket_frames_dropped_total ${this.websocketFramesDropped}`,
    );
    lines.push(
      '# TYPE mimoe_uptime_seconds gauge',
      `mimoe_uptime_seconds ${this.uptimeSeconds().toFixed(1)}`,
    );
    for (const [name, value] of Object.entries(gauges)) {
      const metric = `mimoe_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;
      lines.push(`# TYPE ${metric} gauge`, `${metric} ${value}`);
    }
    return lines.join('\n') + '\n';
  }
}
