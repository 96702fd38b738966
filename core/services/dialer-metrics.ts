/** The dialer's Prometheus metrics, named as in the outbound dialer they replace (seed 000). */
import { Counter, Gauge, type Registry } from "prom-client";

export class DialerMetrics {
  private readonly contactsLoaded: Counter;
  private readonly contactsSentForDialing: Counter;
  private readonly callResults: Counter;
  private readonly humanDetected: Counter;
  private readonly dialingInProgress: Gauge;
  private readonly seized: Gauge;
  private readonly abandonRate: Gauge;
  private readonly unrecorded: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.contactsLoaded = new Counter({
      name: "ob_contacts_loaded_total",
      help: "Contacts handed to the dialer, per campaign",
      labelNames: ["campaign"],
      registers,
    });
    this.contactsSentForDialing = new Counter({
      name: "ob_contacts_sent_for_dialing_total",
      help: "Contacts dialled, per campaign",
      labelNames: ["campaign"],
      registers,
    });
    this.callResults = new Counter({
      name: "ob_call_results_total",
      help: "Call results per campaign, canonical status and the switch's raw cause",
      labelNames: ["campaign", "status", "reasonCode"],
      registers,
    });
    this.humanDetected = new Counter({
      name: "ob_call_human_detected_total",
      help: "Calls answered by a person (as classified), per campaign",
      labelNames: ["campaign"],
      registers,
    });
    this.dialingInProgress = new Gauge({
      name: "ob_dialing_in_progress",
      help: "Calls up (ringing, waiting for an agent, bridged) of the campaigns this node paces",
      labelNames: ["campaign"],
      registers,
    });
    this.seized = new Gauge({
      name: "ob_agents_seized",
      help: "Agents seized by the campaigns this node paces",
      registers,
    });
    this.abandonRate = new Gauge({
      name: "ob_abandon_rate",
      help: "Abandoned / live answers since the campaign started on this node",
      labelNames: ["campaign"],
      registers,
    });
    this.unrecorded = new Gauge({
      name: "dialmesh_dialer_unrecorded_steps",
      help: "Call steps (ends, results) this node holds because the database would not take them",
      registers,
    });
  }

  loaded(campaign: string): void {
    this.contactsLoaded.inc({ campaign });
  }
  sentForDialing(campaign: string): void {
    this.contactsSentForDialing.inc({ campaign });
  }
  result(campaign: string, status: string, reasonCode: string): void {
    this.callResults.inc({ campaign, status, reasonCode });
  }
  human(campaign: string): void {
    this.humanDetected.inc({ campaign });
  }
  inProgress(campaign: string, calls: number): void {
    this.dialingInProgress.set({ campaign }, calls);
  }
  agentsSeized(count: number): void {
    this.seized.set(count);
  }
  unrecordedSteps(count: number): void {
    this.unrecorded.set(count);
  }
  abandonment(campaign: string, rate: number): void {
    this.abandonRate.set({ campaign }, rate);
  }
}
