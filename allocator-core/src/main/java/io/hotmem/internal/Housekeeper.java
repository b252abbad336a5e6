package io.hotmem.internal;

import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;

import java.time.Duration;
import java.util.function.Supplier;

/**
 * The allocator's background agent (the kswapd of the original prototype, which never stopped: this one does).
 * Each round, at most every {@link #periodMillis}: runs a pass of the capacity {@link Governor} (which may take a
 * node offline or bring one online through the control lock), gives back the caches of threads that have ended, gives back
 * the caches of threads idle for the purge delay, compacts fragmented zones ({@link Compactor#background}), sweeps
 * the leak detector's records of freed allocations ({@link LeakDetector#sweep}), and returns to the OS the free
 * blocks that have stayed free for
 * the purge delay ({@link Zone#purgeLocked}, a bounded walk per zone-lock hold). Unplugged zones are skipped;
 * {@link #close()} stops the thread and waits for it. It works on the cache registry and the zones, never
 * through the allocator's facade; only the governor takes the control lock, and it gives up once the allocator is
 * closed (close marks it closed before it joins the thread, so the join cannot wait on the lock).
 */
final class Housekeeper implements Agent {
    /** Page-map heads walked per zone-lock hold. */
    static final int HEADS_PER_HOLD = 4096;
    /** Most pages returned to the OS per zone-lock hold (16 MiB at 4 KiB pages). */
    static final long PAGES_PER_HOLD = 4096;
    private static final System.Logger LOG = System.getLogger("io.hotmem");

    private final AllocatorContext ctx;
    private final CacheRegistry registry;
    private final Supplier<Topology> topology;
    private final Ticker ticker;
    private final int purgeTicks;
    final long periodMillis;
    private final WakeableIdleStrategy idle;
    private final AgentRunner runner;
    private int lastRound = Integer.MIN_VALUE;
    private final Governor governor;
    private final Compactor compactor;
    /** Set by {@link #wake}: run a round at once, whatever the period. */
    private volatile boolean poked;

    private Housekeeper(AllocatorContext ctx, CacheRegistry registry, Supplier<Topology> topology,
                        Duration purgeAfter, Governor governor, Compactor compactor) {
        this.ctx = ctx;
        this.governor = governor;
        this.compactor = compactor;
        this.registry = registry;
        this.topology = topology;
        this.ticker = ctx.ticker;
        // Saturated at the millisecond ticker's half range (2^30 - 1 ms, about 12 days): the builder accepts any
        // non-negative delay, and toMillis() throws for one past Long.MAX_VALUE ms.
        long ms = purgeAfter.compareTo(Duration.ofMillis(Integer.MAX_VALUE / 2)) >= 0 ? Integer.MAX_VALUE / 2
                : purgeAfter.toMillis();
        this.purgeTicks = (int) ms;
        this.periodMillis = Math.max(10, Math.min(1000, ms / 4));
        this.idle = new WakeableIdleStrategy(periodMillis * 1_000_000L);
        this.runner = new AgentRunner(idle,
                t -> LOG.log(System.Logger.Level.WARNING, roleName() + " failed a round", t), null, this);
    }

    static Housekeeper start(AllocatorContext ctx, CacheRegistry registry, Supplier<Topology> topology,
                             Duration purgeAfter, Governor governor, Compactor compactor) {
        Housekeeper h = new Housekeeper(ctx, registry, topology, purgeAfter, governor, compactor);
        AgentRunner.startOnThread(h.runner, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        return h;
    }

    @Override
    public int doWork() {
        int now = ticker.advance();
        boolean poke = poked;
        if (!poke && lastRound != Integer.MIN_VALUE && now - lastRound < periodMillis) {
            return 0;
        }
        poked = false;
        lastRound = now;
        return round(now);
    }

    /**
     * One round: reclaims dead and idle threads' caches, then returns to the OS the free blocks that have been
     * free for the purge delay, holding each zone lock for a bounded walk at a time.
     *
     * @return a measure of the work done (0 when there was none)
     */
    int round(int now) {
        if (ctx.isClosed()) {
            return 0;
        }
        long work = 0;
        if (governor != null) {
            try {
                work = governor.pass();
            } catch (Error e) {
                // A listener's Error during a governor step: the step is recorded as failed (its node backs off);
                // the agent must not die of it, so it is logged here, where no caller could get it.
                LOG.log(System.Logger.Level.ERROR, roleName() + ": a listener failed during a capacity step", e);
                work = 1;
            }
        }
        work += registry.reclaimDead();
        work += registry.reclaimIdle(now, purgeTicks);
        work += compactor.background(topology.get().zones);
        ctx.leaks.sweep(ctx.table); // SAMPLED: freed allocations' records (and the classes their sites hold) go
        long[] purged = new long[1];
        for (Zone z : topology.get().zones) {
            for (int page = 0; page < z.pages && !ctx.isClosed(); ) {
                z.lock.lock();
                try {
                    page = z.purgeLocked(page, purgeTicks, HEADS_PER_HOLD, PAGES_PER_HOLD, purged);
                } finally {
                    z.lock.unlock();
                }
            }
        }
        return (int) Math.min(Integer.MAX_VALUE, work + purged[0]);
    }

    @Override
    public String roleName() {
        return "hotmem-agent-" + ctx.name;
    }

    /** Cuts the agent's current idle wait short (a new capacity limit or elastic setting). */
    void wake() {
        poked = true;
        idle.wake(runner.thread());
    }

    /** Stops the agent and waits for its thread to end. */
    void close() {
        idle.stop(runner.thread());
        runner.close();
    }
}
