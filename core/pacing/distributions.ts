/** Small numeric helpers shared by predictive pacing and the simulator. Pure. */

/** Standard normal density. */
export function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, error < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Parameters of the underlying normal of a lognormal with the given mean and sd. */
export interface LogNormal {
  mu: number;
  sigma: number;
}

export function logNormalFromMoments(mean: number, sd: number): LogNormal {
  const m = Math.max(mean, 1e-9);
  const variance = Math.max(sd, 0) ** 2;
  const sigma2 = Math.log(1 + variance / (m * m));
  return { mu: Math.log(m) - sigma2 / 2, sigma: Math.sqrt(sigma2) };
}

export function logNormalCdf(dist: LogNormal, x: number): number {
  if (x <= 0) return 0;
  if (dist.sigma === 0) return x >= Math.exp(dist.mu) ? 1 : 0;
  return normalCdf((Math.log(x) - dist.mu) / dist.sigma);
}

/** P(X <= elapsed + h | X > elapsed): the chance something under way for `elapsed` ends within `h`. */
export function logNormalEndsWithin(dist: LogNormal, elapsed: number, h: number): number {
  const survived = 1 - logNormalCdf(dist, elapsed);
  if (survived <= 1e-12) return 1;
  return (logNormalCdf(dist, elapsed + h) - logNormalCdf(dist, elapsed)) / survived;
}

/** E[max(X, 0)] for X normal with mean `mu` and standard deviation `sd`. */
export function expectedPositivePart(mu: number, sd: number): number {
  if (sd <= 1e-12) return Math.max(mu, 0);
  const z = mu / sd;
  return sd * normalPdf(z) + mu * normalCdf(z);
}
