/**
 * Preview dialling: an agent is offered a contact before the call, then dials it or skips it;
 * an undecided offer is dialled by itself after the campaign's `preview.timeoutS`, and an agent
 * may skip at most `preview.maxSkips` offers in a row. Pure.
 */
export type PreviewChoice = "dial" | "skip";

export interface PreviewOffer {
  offeredAt: Date;
  choice?: PreviewChoice | null;
}

/** What the pacing node does with an offer now. */
export function previewStep(offer: PreviewOffer, now: Date, timeoutS: number): "dial" | "skip" | "wait" {
  if (offer.choice === "dial") return "dial";
  if (offer.choice === "skip") return "skip";
  return now.getTime() - offer.offeredAt.getTime() >= timeoutS * 1000 ? "dial" : "wait";
}

/** When an undecided offer is dialled by itself. */
export function autoDialAt(offer: Pick<PreviewOffer, "offeredAt">, timeoutS: number): Date {
  return new Date(offer.offeredAt.getTime() + timeoutS * 1000);
}

/** Whether an agent who has skipped `skipsUsed` offers in a row may skip one more. */
export function maySkip(skipsUsed: number, maxSkips: number): boolean {
  return skipsUsed < maxSkips;
}
