package io.hotmem.internal;

import io.hotmem.LeakDetection;
import io.hotmem.MemoryBacking;
import io.hotmem.internal.prim.AddressRange;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * What every part of one allocator shares: its configuration (immutable), its handle table and clock, its address
 * range, and whether it is closed. Complete before any part is built from it.
 *
 * <p><b>Closing.</b> {@link #markClosed()} is the first step of {@code close()}: from then on every public call
 * fails with {@link #closedException()}, and a relocation waiting out a backoff ({@link #awaitClose}) wakes and
 * stops, so that close never waits out a drain's deadline. A call already past its check either finishes or
 * meets memory that close took away, and {@link #closedOr} turns what it meets then into the same exception.
 */
final class AllocatorContext {
    final String name;
    final int pageSize;
    final int pageShift;
    final int maxOrder;
    final long maxBlockBytes;
    /** {@link io.hotmem.PageAllocator.Builder#residentFreeLimit}: +infinity for none. */
    final double residentFreeLimit;
    final MemoryBacking backingKind;
    final Ticker ticker = new Ticker();
    final HandleTable table;
    /** The bytes of the range that nodes may use. */
    final long addressSpace;
    /**
     * Where every node's memory lives, at a fixed offset ({@link Node#offsetInRange}), followed by
     * {@code min(maxBlockBytes, addressSpace)} bytes of slack that no node uses: a location (any block's start) plus any size an entry can
     * hold (at most a block) stays inside the range, so an optimistic read that pairs the location of one allocation
     * with the size of another reads harmless bytes instead of failing a bounds check. Unmapped by close.
     */
    final AddressRange range;
    /**
     * The whole range as one segment: every internal access to block memory goes through it, at the byte offset a
     * location word gives ({@link HandleLayout#byteOffsetOfLocation}).
     */
    final MemorySegment memory;
    /** Leak detection at the allocator's level: what every allocation, free, pin and segment path consults. */
    final LeakDetector leaks;

    /**
     * The nodes, zones and zonelists as of now: written only by {@link NodeLifecycle} (its publication store),
     * read by every part through the context it holds.
     */
    volatile Topology topology = Topology.EMPTY;
    /**
     * The most bytes of plugged nodes ({@code Long.MAX_VALUE}: no limit). Written under the control lock (by
     * {@link Governor#setLimit}); plug checks it under the same lock, so no plug passes a limit set before it.
     */
    volatile long capacityLimit = Long.MAX_VALUE;
    private volatile boolean closed;
    private final CountDownLatch closing = new CountDownLatch(1);

    /**
     * @param addressSpace the bytes of the range: room for every node the allocator will ever have
     * @throws IllegalStateException if too many allocators are open, or the range cannot be reserved
     */
    AllocatorContext(String name, int pageSize, int maxOrder, MemoryBacking backingKind, long addressSpace,
                     LeakDetection leakDetection, double residentFreeLimit) {
        this.name = name;
        this.residentFreeLimit = residentFreeLimit;
        this.leaks = new LeakDetector(name, leakDetection);
        this.pageSize = pageSize;
        this.pageShift = Integer.numberOfTrailingZeros(pageSize);
        this.maxOrder = maxOrder;
        this.maxBlockBytes = (long) pageSize << maxOrder;
        this.backingKind = backingKind;
        HandleTable t = new HandleTable();
        try {
            // The slack: no block is larger than the largest block of its zone, so min(maxBlockBytes, addressSpace)
            // covers any location plus any size (and keeps an ARENA range, resident at once, small).
            this.range = AddressRange.reserve(backingKind, Math.addExact(addressSpace,
                    Math.min(maxBlockBytes, addressSpace)), pageSize);
        } catch (RuntimeException | Error e) {
            t.releaseTag();
            throw e;
        }
        this.table = t;
        this.addressSpace = addressSpace;
        this.memory = range.segment();
    }

    boolean isClosed() {
        return closed;
    }

    /** @return true for the one caller that closed it */
    boolean markClosed() {
        synchronized (closing) {
            if (closed) {
                return false;
            }
            closed = true;
        }
        closing.countDown();
        return true;
    }

    void checkOpen() {
        if (closed) {
            throw closedException();
        }
    }

    IllegalStateException closedException() {
        return new IllegalStateException("allocator '" + name + "' is closed");
    }

    /**
     * @return {@code e}, or, when the allocator is closed, an {@link IllegalStateException} saying so with
     *         {@code e} as its cause (what a call racing close meets: a closed arena, an emptied table)
     */
    RuntimeException closedOr(RuntimeException e) {
        if (closed) {
            IllegalStateException c = closedException();
            c.initCause(e);
            return c;
        }
        return e;
    }

    /**
     * Sleeps up to {@code nanos}, waking at once when the allocator is being closed.
     *
     * @return whether it is being closed
     * @throws InterruptedException if the thread is interrupted
     */
    boolean awaitClose(long nanos) throws InterruptedException {
        return closing.await(nanos, TimeUnit.NANOSECONDS);
    }
}
