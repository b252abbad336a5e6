package io.hotmem.internal;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Every thread cache of one allocator ({@link ThreadCache}): finding the calling thread's, registering a new one,
 * and the one verb for taking cached blocks back, <em>reclaim</em>: from every cache ({@link #reclaimAll}), from
 * the caches of some zones ({@link #reclaim}), of zones that stopped accepting blocks ({@link #reclaimClosed}),
 * of dead threads ({@link #reclaimDead}), of idle ones ({@link #reclaimIdle}), and for good at close
 * ({@link #detachAll}).
 *
 * <p><b>Locks.</b> {@link #registryLock} (private: user code that synchronizes on the allocator joins no internal
 * lock) guards the list of caches; {@link #reclaimLock} lets one reclaimer at a time run the handshake. Order:
 * registry lock, then reclaim lock, then (inside the handshake) zone locks. A registry lock holder may reclaim;
 * a reclaimer never takes the registry lock.
 *
 * <p><b>Publication.</b> A cache is complete (constructed by its owner) before the volatile stores of
 * {@link #caches} and {@link #cacheIndex} that publish it; a reader of the index uses only an entry whose final
 * {@code owner} is itself.
 */
final class CacheRegistry {
    private final AllocatorContext ctx;
    /** Orders kept in thread caches: 0 .. cacheOrders - 1 (0: no caches). */
    final int cacheOrders;
    /** The allocator's zones by id, as of now. */
    private final Supplier<Zone[]> zones;

    /** Each platform thread's cache; null for virtual threads, when caches are off, and once closed. */
    private final ThreadLocal<ThreadCache> threadCaches = ThreadLocal.withInitial(this::register);
    private final ReentrantLock registryLock = new ReentrantLock();
    private final ReentrantLock reclaimLock = new ReentrantLock();
    /** Every live thread cache; copy-on-write under {@link #registryLock}. */
    private volatile ThreadCache[] caches = new ThreadCache[0];
    /**
     * The caches by thread id modulo the length (a power of two): one array load instead of a ThreadLocal lookup.
     * A thread whose place is taken by another's cache finds its own through {@link #threadCaches}. Written under
     * {@link #registryLock}; read racily, but a thread uses only the entry whose final {@code owner} is itself.
     * Empty places hold {@link ThreadCache#NONE} (no owner), so that a lookup tests one thing, the owner.
     */
    private volatile ThreadCache[] cacheIndex = newIndex(64);
    /** Registered caches at which registration next looks for dead threads' caches; under the registry lock. */
    private int nextDeadSweep = 64;
    /** Set by {@link #detachAll}; under the registry lock. */
    private boolean detached;

    CacheRegistry(AllocatorContext ctx, int cacheOrders, Supplier<Zone[]> zones) {
        this.ctx = ctx;
        this.cacheOrders = cacheOrders;
        this.zones = zones;
    }

    /** @return the calling thread's cache, or null (virtual thread, caches off, closed) */
    ThreadCache cache() {
        Thread t = Thread.currentThread();
        ThreadCache tc = indexed(t);
        return tc.owner == t ? tc : threadCaches.get();
    }

    /**
     * @return the cache at {@code t}'s place in the index, never null: {@code t}'s own only if its {@code owner} is
     *         {@code t} (else another thread's, or {@link ThreadCache#NONE}); for a fast path that tests the owner
     *         together with its other conditions and leaves {@link #cache} to its slow path
     */
    ThreadCache indexed(Thread t) {
        ThreadCache[] index = cacheIndex;
        return index[(int) t.threadId() & (index.length - 1)];
    }

    private static ThreadCache[] newIndex(int length) {
        ThreadCache[] index = new ThreadCache[length];
        Arrays.fill(index, ThreadCache.NONE);
        return index;
    }

    /** The ThreadLocal's initial value: a new cache for the calling thread, registered; or null. */
    private ThreadCache register() {
        Thread t = Thread.currentThread();
        if (cacheOrders == 0 || t.isVirtual()) {
            return null; // a virtual thread's cache would outlive its short life in every ThreadLocal map
        }
        ThreadCache tc = new ThreadCache(t, ctx.table, cacheOrders, ctx.pageShift);
        tc.leakCountdown = ctx.leaks.countdown();
        registryLock.lock();
        try {
            if (detached) {
                return null;
            }
            ThreadCache[] cs = caches;
            if (cs.length >= nextDeadSweep) {
                cs = withoutDead(cs);
                nextDeadSweep = Math.max(64, cs.length * 2);
            }
            cs = Arrays.copyOf(cs, cs.length + 1);
            cs[cs.length - 1] = tc;
            caches = cs; // publishes the cache to reclaimers
            reindex(cs);
        } finally {
            registryLock.unlock();
        }
        return tc;
    }

    /** Puts every cache of {@code cs} in a new index that fits them; registry lock held. */
    private void reindex(ThreadCache[] cs) {
        assert registryLock.isHeldByCurrentThread();
        int length = cacheIndex.length;
        while (length < 2 * cs.length) {
            length *= 2;
        }
        ThreadCache[] index = newIndex(length);
        for (ThreadCache tc : cs) {
            int i = (int) tc.owner.threadId() & (length - 1);
            if (index[i] == ThreadCache.NONE) {
                index[i] = tc;
            }
        }
        cacheIndex = index; // publishes the index, complete
    }

    /** Reclaims the caches of threads that have ended; registry lock held. @return the live ones */
    private ThreadCache[] withoutDead(ThreadCache[] cs) {
        assert registryLock.isHeldByCurrentThread();
        List<ThreadCache> alive = new ArrayList<>(cs.length);
        List<ThreadCache> dead = new ArrayList<>();
        for (ThreadCache tc : cs) {
            (tc.owner.isAlive() ? alive : dead).add(tc);
        }
        if (!dead.isEmpty()) {
            reclaim(dead.toArray(new ThreadCache[0]), null, false);
        }
        return alive.toArray(new ThreadCache[0]);
    }

    /** Runs the handshake on {@code cs} for {@code only} (every zone when null) under the reclaim lock. */
    private long reclaim(ThreadCache[] cs, Zone[] only, boolean detach) {
        reclaimLock.lock();
        try {
            return ThreadCache.reclaim(cs, zones.get(), only, detach);
        } finally {
            reclaimLock.unlock();
        }
    }

    /** Reclaims the caches of threads that have ended and forgets them. @return how many */
    int reclaimDead() {
        registryLock.lock();
        try {
            ThreadCache[] cs = caches;
            ThreadCache[] alive = withoutDead(cs);
            if (alive.length != cs.length) {
                caches = alive;
                reindex(alive);
            }
            return cs.length - alive.length;
        } finally {
            registryLock.unlock();
        }
    }

    /** @return the pages reclaimed from every cache, dead threads' caches first */
    long reclaimAll() {
        reclaimDead();
        return reclaim(caches, null, false);
    }

    /** @return the pages of {@code zs} reclaimed from every cache */
    long reclaim(Zone[] zs) {
        return zs.length == 0 ? 0 : reclaim(caches, zs, false);
    }

    /**
     * Reclaims every cache's blocks of {@code zs}, after they stopped accepting blocks (under the control lock,
     * so their epochs stay as they are until the next state change): afterwards no cache holds one of them
     * (invariant 3, which {@link StatusView#checkInvariants} checks through {@link Zone#flushedEpoch}).
     */
    void reclaimClosed(Zone[] zs) {
        reclaim(zs);
        for (Zone z : zs) {
            z.flushedEpoch = z.cacheEpoch;
        }
    }

    /**
     * Reclaims the caches whose owner did no operation for {@code idleTicks} (the agent's clock; agent thread
     * only). @return the pages reclaimed
     */
    long reclaimIdle(int now, int idleTicks) {
        List<ThreadCache> idle = new ArrayList<>();
        for (ThreadCache tc : caches) {
            int ops = tc.operationCount();
            if (ops != tc.seenOperations) {
                tc.seenOperations = ops;
                tc.seenAtTick = now;
            } else if (now - tc.seenAtTick >= idleTicks) {
                tc.seenAtTick = now;
                idle.add(tc);
            }
        }
        return idle.isEmpty() ? 0 : reclaim(idle.toArray(new ThreadCache[0]), null, false);
    }

    /**
     * Close: reclaims every cache for good and forgets them all. Afterwards no cache hands out or takes a block,
     * no new cache registers, and what threads' ThreadLocal maps still hold of this allocator is one small
     * detached {@link ThreadCache} each (the ThreadLocal itself goes with the allocator).
     */
    void detachAll() {
        registryLock.lock();
        try {
            detached = true;
            reclaim(caches, null, true);
            caches = new ThreadCache[0];
            cacheIndex = newIndex(1);
        } finally {
            registryLock.unlock();
        }
    }

    /** @return the pages of zone {@code zoneId} in all thread caches, sampled */
    long cachedPages(int zoneId) {
        long pages = 0;
        for (ThreadCache tc : caches) {
            pages += tc.cachedPages(zoneId);
        }
        return pages;
    }
}
