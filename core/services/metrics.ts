/** Prometheus metrics (prom-client): one registry per node. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { DispatchMetrics } from "../ccm/ports.ts";
import { DialerMetrics } from "./dialer-metrics.ts";

export class HubMetrics implements DispatchMetrics {
  readonly registry = new Registry();
  readonly activities: Gauge;
  readonly transitions: Counter;
  readonly lateness: Histogram;
  readonly pluginLatency: Histogram;
  readonly pluginErrors: Counter;
  readonly webhookBacklog: Gauge;
  readonly storeReachable: Gauge;
  readonly dialer: DialerMetrics;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "dialmesh_" });
    this.activities = new Gauge({
      name: "dialmesh_activities",
      help: "Activities by status and channel (whole hub, read from the store at scrape time)",
      labelNames: ["status", "channel"],
      registers: [this.registry],
    });
    this.transitions = new Counter({
      name: "dialmesh_status_transitions_total",
      help: "Status changes recorded by this node",
      labelNames: ["status", "channel"],
      registers: [this.registry],
    });
    this.lateness = new Histogram({
      name: "dialmesh_dispatch_lateness_seconds",
      help: "Time from when an activity was due to when this node dispatched it",
      labelNames: ["channel"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [this.registry],
    });
    this.pluginLatency = new Histogram({
      name: "dialmesh_plugin_send_seconds",
      help: "Plugin send latency",
      labelNames: ["plugin", "outcome"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20],
      registers: [this.registry],
    });
    this.pluginErrors = new Counter({
      name: "dialmesh_plugin_errors_total",
      help: "Plugin sends that failed",
      labelNames: ["plugin"],
      registers: [this.registry],
    });
    this.webhookBacklog = new Gauge({
      name: "dialmesh_webhook_backlog",
      help: "Webhook deliveries by state (pending, dead)",
      labelNames: ["state"],
      registers: [this.registry],
    });
    this.storeReachable = new Gauge({
      name: "dialmesh_store_reachable",
      help: "1 while this node reaches its database, 0 while it does not",
      registers: [this.registry],
    });
    this.dialer = new DialerMetrics(this.registry);
  }

  statusChange(channel: string, status: string): void {
    this.transitions.inc({ channel, status });
  }

  pluginCall(pluginId: string, seconds: number, outcome: "ok" | "error"): void {
    this.pluginLatency.observe({ plugin: pluginId, outcome }, seconds);
    if (outcome === "error") this.pluginErrors.inc({ plugin: pluginId });
  }

  // DispatchMetrics.lateness
  observeLateness(channel: string, seconds: number): void {
    this.lateness.observe({ channel }, seconds);
  }
}
