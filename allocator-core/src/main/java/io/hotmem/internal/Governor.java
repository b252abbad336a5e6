package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.NodeState;
import io.hotmem.RelocationReport;

import java.time.Duration;
import java.util.function.Supplier;

/**
 * The capacity governor: keeps the plugged bytes at most the capacity limit by taking hot-removable nodes offline
 * (those with the fewest used bytes first, their data drained into the rest), and, when elastic, plugs and enables
 * an unplugged hot-removable node before allocations would fail and offlines one when free memory stays high.
 * Linux's auto-online of movable memory and virtio-mem, inside the allocator.
 *
 * <p><b>Who runs it.</b> {@link #pass} runs on the background agent each round; without the agent,
 * {@link #setLimit} runs passes itself until the limit is met or a pass fails. {@link #growFor} runs on an
 * allocating thread that found no memory. Every step takes the control lock like any node transition, so the
 * governor and operators are serialised; the governor only tries the lock for a short while, so an allocation
 * never waits out a drain.
 *
 * <p><b>Guarantees.</b> Fixed nodes are never offlined. A pinned straggler delays an offline, never forces it:
 * a failed offline rolls back (the node stays ENABLED with its data) and that node waits out a backoff (doubling from
 * {@link #MIN_BACKOFF_NANOS} to {@link #MAX_BACKOFF_NANOS}) while the governor tries the next one. A listener's veto
 * of a plug is respected the same way: the vetoed node waits, another may come online. Plug never passes the limit ({@link NodeLifecycle}); so plugged bytes only go down
 * while they are above it.
 *
 * <p><b>Cgroup.</b> Given a {@link CgroupLimit}, each pass (at most every {@link CgroupLimit#PERIOD_NANOS}) reads
 * it and makes the limit {@code min(the limit set by setLimit, what the cgroup leaves)}, never below what the
 * allocator needs (plugged fixed nodes plus bytes in use in hot-removable ones): a cgroup that leaves less is met as
 * far as it can be and reported; a file that cannot be parsed changes nothing and is reported.
 *
 * <p><b>Watermarks (elastic).</b> Low: free bytes in ENABLED zones below {@code max(largest block, plugged / 8)}
 * make the governor plug a node (if the limit leaves room). High: a node is offlined once the free bytes without
 * it would still be at least twice the low watermark, and that has held for {@link #HOLD_NANOS} (hysteresis).
 */
final class Governor {
    static final long MIN_BACKOFF_NANOS = 50_000_000L;
    static final long MAX_BACKOFF_NANOS = 5_000_000_000L;
    /** How long free memory must stay high before an elastic shrink. */
    static final long HOLD_NANOS = 2_000_000_000L;
    /** How long one offline of the governor may take before it rolls back. */
    static final Duration OFFLINE_TIMEOUT = Duration.ofSeconds(2);
    /** How long the governor waits for the control lock. */
    static final long LOCK_MILLIS = 50;

    private final AllocatorContext ctx;
    private final NodeLifecycle lifecycle;
    private final Relocations relocations;
    private final CacheRegistry registry;
    private final CgroupLimit cgroup;
    private volatile boolean elastic;
    /** The limit {@link #setLimit} set; the effective one ({@code ctx.capacityLimit}) may be lower (cgroup). */
    private volatile long requestedLimit = Long.MAX_VALUE;
    /** What the cgroup left at its last read ({@code Long.MAX_VALUE}: no cgroup, or no limit there). */
    private volatile long cgroupLimit = Long.MAX_VALUE;
    private long lastCgroupRead = Long.MIN_VALUE;
    /** What the last read of the cgroup could not follow (kept until the next read). */
    private String cgroupProblem = "";

    // Guarded by the monitor of this object (the agent, setLimit and growFor may run passes at once).
    /** Per node id: when a failed or vetoed step on it may be tried again, and the next backoff. */
    private final java.util.Map<Integer, long[]> retry = new java.util.HashMap<>();
    private long highSince = Long.MIN_VALUE;
    private String lastReport = "";

    Governor(AllocatorContext ctx, NodeLifecycle lifecycle, Relocations relocations, CacheRegistry registry,
             boolean elastic, CgroupLimit cgroup) {
        this.ctx = ctx;
        this.cgroup = cgroup;
        this.lifecycle = lifecycle;
        this.relocations = relocations;
        this.registry = registry;
        this.elastic = elastic;
    }

    boolean isElastic() {
        return elastic;
    }

    void setElastic(boolean on) {
        elastic = on;
    }

    /** @return the limit, {@code Long.MAX_VALUE} for none */
    long limit() {
        return ctx.capacityLimit;
    }

    /** @return what the governor last could not do (empty when the limit is met) */
    synchronized String lastReport() {
        return lastReport;
    }

    /**
     * Sets the limit under the control lock, after checking it can be met.
     *
     * @throws IllegalArgumentException if {@code bytes} is negative, below the plugged fixed nodes, or below those
     *                                  plus the bytes in use in hot-removable nodes; nothing changes
     */
    void setLimit(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("capacity limit " + bytes + " is negative (Long.MAX_VALUE: none)");
        }
        lifecycle.lock("setCapacityLimit");
        try {
            long fixed = fixedBytes();
            long usedRemovable = usedRemovableBytes();
            if (bytes < fixed) {
                throw new IllegalArgumentException("capacity limit " + bytes + " is below the " + fixed
                        + " bytes of plugged fixed nodes, which are never offlined");
            }
            if (bytes < fixed + usedRemovable) {
                throw new IllegalArgumentException("capacity limit " + bytes + " is below the " + fixed
                        + " bytes of plugged fixed nodes plus the " + usedRemovable
                        + " bytes in use in hot-removable nodes (free some first)");
            }
            long needed = usedRemovable - fixedFreeBytes(); // what must stay in removable nodes
            long least = leastRemovableBytesFor(needed);
            if (needed > 0 && bytes < fixed + least) {
                throw new IllegalArgumentException("capacity limit " + bytes + " cannot be met in whole nodes: "
                        + needed + " bytes of data do not fit in the ENABLED fixed nodes, and hot-removable nodes "
                        + "that can hold them come to at least " + least + " bytes, beside the " + fixed
                        + " bytes of fixed nodes");
            }
            requestedLimit = bytes;
            ctx.capacityLimit = Math.min(bytes, Math.max(cgroupLimit, fixed + usedRemovable));
            Telemetry.LOG.log(System.Logger.Level.INFO, ctx.name + ": capacity limit "
                    + (bytes == Long.MAX_VALUE ? "none" : bytes + " bytes") + " (plugged "
                    + lifecycle.pluggedBytes() + " bytes)");
        } finally {
            lifecycle.unlock();
        }
        synchronized (this) {
            retry.clear(); // a new limit is worth an attempt at once
        }
    }

    /**
     * Shrinks until the limit is met or a step fails (for callers without the agent).
     */
    void enforceNow() {
        // Each failed node waits out its backoff, so victim() moves on; bounded by the nodes there are.
        for (int steps = 2 * ctx.topology.nodes.length; steps > 0 && !ctx.isClosed()
                && lifecycle.pluggedBytes() > ctx.capacityLimit && victim() != null; steps--) {
            shrinkStep(this::victimOverLimit, true);
        }
    }

    /**
     * One pass: above the limit, one offline step; when elastic, one grow or shrink step by the watermarks.
     *
     * @return 1 if it changed a node, else 0
     */
    int pass() {
        if (ctx.isClosed()) {
            return 0;
        }
        String cgroupProblem = followCgroup();
        if (lifecycle.pluggedBytes() > ctx.capacityLimit) {
            return shrinkStep(this::victimOverLimit, false) ? 1 : 0;
        }
        report(cgroupProblem);
        if (!elastic) {
            return 0;
        }
        long free = freeBytes();
        long low = lowWatermark();
        if (free < low) {
            synchronized (this) {
                highSince = Long.MIN_VALUE;
            }
            return grow(AllocFlags.HOTREMOVABLE, 0, -1) ? 1 : 0;
        }
        if (elasticVictim(free, low) == null) {
            synchronized (this) {
                highSince = Long.MIN_VALUE;
            }
            return 0;
        }
        long now = System.nanoTime();
        if (cgroup != null && cgroup.pressureRose()) {
            synchronized (this) {
                highSince = Long.MIN_VALUE;
            }
            return shrinkStep(this::elasticVictim, false) ? 1 : 0; // under pressure: no hysteresis
        }
        synchronized (this) {
            if (highSince == Long.MIN_VALUE) {
                highSince = now;
                return 0;
            }
            if (now - highSince < HOLD_NANOS) {
                return 0;
            }
            highSince = Long.MIN_VALUE;
        }
        return shrinkStep(this::elasticVictim, false) ? 1 : 0;
    }

    /**
     * Called by an allocation that found no memory: when elastic, plugs and enables a node that could serve it
     * ({@code flags}, a block of {@code order}, preferring {@code preferredNode}) if the limit allows.
     *
     * @return whether a node came online (the caller tries again)
     */
    boolean growFor(int flags, int order, int preferredNode) {
        return elastic && !ctx.isClosed() && grow(flags, order, preferredNode);
    }

    // ------------------------------------------------------------------------------------------------ steps

    /**
     * Plugs and enables the lowest unplugged hot-removable node that fits under the limit and could serve the
     * request: a movable one (only HOTREMOVABLE blocks go to a hot-removable node), the preferred node itself for
     * THISNODE, a node with room for the block; nodes whose last plug failed or was vetoed wait out their backoff.
     */
    private boolean grow(int flags, int order, int preferredNode) {
        if ((flags & AllocFlags.HOTREMOVABLE) == 0 || candidate(flags, order, preferredNode) == null) {
            return false; // nothing to plug: do not wait for the control lock
        }
        if (!lifecycle.tryLock(LOCK_MILLIS)) {
            return false;
        }
        Node chosen;
        try {
            while (true) { // a node that fails or is vetoed waits out its backoff: the next one is tried
                chosen = candidate(flags, order, preferredNode);
                if (chosen == null) {
                    return false;
                }
                try {
                    lifecycle.plugAndEnableUnderControl(chosen);
                    break;
                } catch (RuntimeException | Error e) {
                    if (chosen.state == NodeState.ENABLED) {
                        succeeded(chosen); // it came online; a listener's onOnline threw afterwards
                    } else {
                        failed(chosen, "plug node " + chosen.id + ": " + e.getMessage());
                    }
                    if (e instanceof Error err) {
                        throw err;
                    }
                }
            }
        } finally {
            lifecycle.unlock();
        }
        succeeded(chosen);
        Telemetry.LOG.log(System.Logger.Level.INFO, ctx.name + ": governor plugged and enabled node " + chosen.id
                + " (plugged " + lifecycle.pluggedBytes() + " bytes, limit " + limitText() + ")");
        return true;
    }

    /** @return the node {@link #grow} would plug, or null */
    private Node candidate(int flags, int order, int preferredNode) {
        long plugged = lifecycle.pluggedBytes();
        long block = (long) ctx.pageSize << order;
        boolean thisNode = (flags & AllocFlags.THISNODE) != 0;
        for (Node n : ctx.topology.nodes) {
            if (n.state == NodeState.UNPLUGGED && n.spec.hotRemovable() && n.retiredScope == null
                    && n.spec.bytes() >= block && (!thisNode || n.id == preferredNode) && due(n)
                    && plugged + n.spec.bytes() <= ctx.capacityLimit) {
                return n;
            }
        }
        return null;
    }

    /**
     * Offlines the node {@code pick} chooses under the control lock: {@link #victimOverLimit} or
     * {@link #elasticVictim}, the hot-removable node with the fewest used bytes among those not waiting out a
     * backoff, while the shrink is still wanted.
     *
     * @param blocking take the control lock (a caller's thread, {@link #enforceNow}) rather than only try it (the
     *                 agent, which close joins with the lock held)
     * @return whether it went offline
     */
    private boolean shrinkStep(Supplier<Node> pick, boolean blocking) {
        if (victim() == null) {
            report("the capacity limit " + limitText() + " is not met: " + lifecycle.pluggedBytes()
                    + " bytes are plugged and no hot-removable node can be offlined now");
            return false;
        }
        // The victim is chosen again under the control lock, with the limit checked there: between the look above
        // and the lock an operator may have unplugged a node (maybe the victim itself), meeting the limit.
        Node[] picked = new Node[1];
        RelocationReport r;
        try {
            r = lifecycle.offlinePicked(() -> picked[0] = pick.get(), OFFLINE_TIMEOUT, relocations, !blocking);
        } catch (RuntimeException | Error e) {
            if (ctx.isClosed()) {
                return false;
            }
            if (picked[0] == null) {
                throw e; // before any node was chosen (the lock refused): not a node's failure
            }
            failed(picked[0], "offline node " + picked[0].id + ": " + e);
            if (e instanceof Error err) {
                throw err; // a listener's Error: recorded, never swallowed (the agent logs it and goes on)
            }
            return false;
        }
        Node victim = picked[0];
        if (r == null) {
            return false; // the limit is met now, or the control lock is busy (an operator's transition, close)
        }
        if (!r.complete()) {
            failed(victim, "offline node " + victim.id + " did not complete: " + r);
            return false;
        }
        succeeded(victim);
        Telemetry.LOG.log(System.Logger.Level.INFO, ctx.name + ": governor took node " + victim.id
                + " offline (plugged " + lifecycle.pluggedBytes() + " bytes, limit " + limitText() + ")");
        return true;
    }

    /**
     * Reads the cgroup (when followed and due) and applies what it leaves.
     *
     * @return what could not be followed, or empty
     */
    private String followCgroup() {
        if (cgroup == null) {
            return "";
        }
        long now = System.nanoTime();
        synchronized (this) {
            if (lastCgroupRead != Long.MIN_VALUE && now - lastCgroupRead < CgroupLimit.PERIOD_NANOS) {
                return cgroupProblem;
            }
            lastCgroupRead = now;
        }
        String problem = readCgroup();
        synchronized (this) {
            cgroupProblem = problem;
        }
        return problem;
    }

    private String readCgroup() {
        long target;
        try {
            target = cgroup.limitFor(residentBytes());
        } catch (IllegalStateException e) {
            String why = "cgroup: " + e.getMessage() + "; the limit stays " + limitText();
            if (!why.equals(cgroupProblem)) {
                Telemetry.LOG.log(System.Logger.Level.WARNING, ctx.name + ": " + why);
            }
            return why;
        }
        if (!lifecycle.tryLock(LOCK_MILLIS)) {
            synchronized (this) {
                lastCgroupRead = Long.MIN_VALUE; // read again at the next pass
            }
            return cgroupProblem;
        }
        String problem;
        try {
            long floor = floor();
            long applied = Math.min(requestedLimit, Math.max(target, floor));
            problem = target < floor ? cgroupShort(target) : "";
            if (target != cgroupLimit) {
                Telemetry.LOG.log(System.Logger.Level.INFO, ctx.name + ": cgroup " + cgroup.dir() + " leaves "
                        + (target == Long.MAX_VALUE ? "no limit" : target + " bytes") + "; capacity limit "
                        + (applied == Long.MAX_VALUE ? "none" : applied + " bytes"));
            }
            cgroupLimit = target;
            ctx.capacityLimit = applied;
        } finally {
            lifecycle.unlock();
        }
        return problem;
    }

    private String cgroupShort(long target) {
        return "the cgroup leaves " + target + " bytes, less than the " + floor()
                + " bytes that whole nodes holding the fixed memory and the data need; the limit is held there";
    }

    /** @return plugged fixed bytes plus bytes in use in hot-removable nodes: the least a limit can be */
    /**
     * @return the least limit whole nodes can meet: plugged fixed nodes plus the bytes in use in hot-removable ones,
     *         or plus the least removable bytes that can hold what does not fit in ENABLED fixed nodes
     */
    private long floor() {
        long used = usedRemovableBytes();
        return fixedBytes() + Math.max(used, leastRemovableBytesFor(used - fixedFreeBytes()));
    }

    /** @return free (and cached free) bytes in ENABLED fixed nodes: where a drain can also put removable data */
    private long fixedFreeBytes() {
        long sum = 0;
        for (Node n : ctx.topology.nodes) {
            if (n.state == NodeState.ENABLED && !n.spec.hotRemovable()) {
                sum += freeBytesOf(n);
            }
        }
        return sum;
    }

    /**
     * A lower bound of the plugged hot-removable bytes that can hold {@code needed} bytes: at least k nodes, the
     * fewest whose largest ones reach {@code needed}, so at least the k smallest (0 when nothing is needed).
     */
    private long leastRemovableBytesFor(long needed) {
        if (needed <= 0) {
            return 0;
        }
        java.util.List<Long> sizes = new java.util.ArrayList<>();
        for (Node n : ctx.topology.nodes) {
            if (n.state != NodeState.UNPLUGGED && n.spec.hotRemovable()) {
                sizes.add(n.spec.bytes());
            }
        }
        sizes.sort(null);
        int k = 0;
        long largest = 0;
        for (int i = sizes.size() - 1; i >= 0 && largest < needed; i--) {
            largest += sizes.get(i);
            k++;
        }
        long least = 0;
        for (int i = 0; i < k; i++) {
            least += sizes.get(i);
        }
        return Math.max(least, needed);
    }

    private long fixedBytes() {
        long sum = 0;
        for (Node n : ctx.topology.nodes) {
            if (n.state != NodeState.UNPLUGGED && !n.spec.hotRemovable()) {
                sum += n.spec.bytes();
            }
        }
        return sum;
    }

    private long usedRemovableBytes() {
        long sum = 0;
        for (Node n : ctx.topology.nodes) {
            if (n.state != NodeState.UNPLUGGED && n.spec.hotRemovable()) {
                sum += usedBytes(n);
            }
        }
        return sum;
    }

    /** @return the allocator's resident bytes: plugged pages not given back to the OS */
    private long residentBytes() {
        long pages = 0;
        for (Node n : ctx.topology.nodes) {
            if (n.state == NodeState.UNPLUGGED) {
                continue;
            }
            for (Zone z : n.zones) {
                z.lock.lock();
                try {
                    pages += z.pages - z.purgedPagesLocked();
                } finally {
                    z.lock.unlock();
                }
            }
        }
        return pages << ctx.pageShift;
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** @return the node a shrink for the limit takes, or null when the limit is met */
    private Node victimOverLimit() {
        return lifecycle.pluggedBytes() > ctx.capacityLimit ? victim() : null;
    }

    /** @return the node an elastic shrink takes, or null when free memory without it would not stay high */
    private Node elasticVictim() {
        return elasticVictim(freeBytes(), lowWatermark());
    }

    private Node elasticVictim(long free, long low) {
        Node v = victim();
        return v == null || free - freeBytesOf(v) < 2 * low ? null : v;
    }

    /**
     * @return the plugged hot-removable node with the fewest used bytes (ties: the highest id) that is not waiting
     *         out a backoff, or null
     */
    private Node victim() {
        Node best = null;
        long bestUsed = Long.MAX_VALUE;
        for (Node n : ctx.topology.nodes) {
            if (n.state == NodeState.UNPLUGGED || !n.spec.hotRemovable() || !due(n)) {
                continue;
            }
            long used = usedBytes(n);
            if (used <= bestUsed) {
                best = n;
                bestUsed = used;
            }
        }
        return best;
    }

    /** @return bytes of {@code n} neither free in its zones nor cached free by threads */
    private long usedBytes(Node n) {
        long pages = 0;
        for (Zone z : n.zones) {
            pages += Math.max(0, z.pages - z.freePages() - registry.cachedPages(z.id));
        }
        return pages << ctx.pageShift;
    }

    private long freeBytesOf(Node n) {
        long pages = 0;
        for (Zone z : n.zones) {
            pages += z.freePages() + registry.cachedPages(z.id);
        }
        return pages << ctx.pageShift;
    }

    /** @return free (and cached free) bytes in ENABLED nodes */
    private long freeBytes() {
        long sum = 0;
        for (Node n : ctx.topology.nodes) {
            if (n.state == NodeState.ENABLED) {
                sum += freeBytesOf(n);
            }
        }
        return sum;
    }

    private long lowWatermark() {
        return Math.max(ctx.maxBlockBytes, lifecycle.pluggedBytes() / 8);
    }

    /** @return whether {@code n} is not waiting out the backoff of a failed step */
    private synchronized boolean due(Node n) {
        long[] r = retry.get(n.id);
        return r == null || System.nanoTime() - r[0] >= 0;
    }

    private synchronized void failed(Node n, String why) {
        long[] r = retry.computeIfAbsent(n.id, k -> new long[]{0, MIN_BACKOFF_NANOS});
        r[0] = System.nanoTime() + r[1];
        long waited = r[1];
        r[1] = Math.min(MAX_BACKOFF_NANOS, r[1] * 2);
        report(why);
        Telemetry.LOG.log(System.Logger.Level.WARNING, ctx.name + ": governor: " + why + "; node " + n.id
                + " is tried again in " + waited / 1_000_000 + " ms");
    }

    private synchronized void succeeded(Node n) {
        retry.remove(n.id);
        lastReport = "";
    }

    private synchronized void report(String why) {
        lastReport = why;
    }

    private String limitText() {
        long l = ctx.capacityLimit;
        return l == Long.MAX_VALUE ? "none" : l + " bytes";
    }
}
