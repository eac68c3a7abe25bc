/**
 * Measuring helpers for the cells: clocks, full garbage collections and memory samples.
 */

/** Milliseconds from a monotonic clock. */
export const now = (): number => performance.now()

/**
 * A full (major) garbage collection, twice so that what the first one's weak callbacks released is collected too.
 * Needs `node --expose-gc`; without it (e.g. in the smoke test) it does nothing.
 */
export const fullGc = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    gc()
  }
}

export const heapUsed = (): number => process.memoryUsage().heapUsed

/** The peak resident set size while it runs: sampled every millisecond, and the kernel's high-water mark. */
export class RssPeak {
  private peak = 0
  private readonly maxRssBefore = process.resourceUsage().maxRSS
  private readonly timer: NodeJS.Timeout

  constructor() {
    this.sample()
    this.timer = setInterval(() => this.sample(), 1)
  }

  sample(): void {
    const rss = process.memoryUsage.rss()
    if (rss > this.peak) this.peak = rss
  }

  /**
   * Stops sampling and returns the peak in bytes. Samples every millisecond only see the points where the event loop
   * turns; the kernel's `maxRSS` (getrusage) sees every page, so it counts too, when it grew during the measurement.
   */
  stop(): number {
    clearInterval(this.timer)
    this.sample()
    const maxRss = process.resourceUsage().maxRSS
    return maxRss > this.maxRssBefore ? Math.max(this.peak, maxRss * 1024) : this.peak
  }
}
