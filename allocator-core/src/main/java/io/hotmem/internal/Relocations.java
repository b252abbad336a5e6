package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.NodeState;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneType;
import io.hotmem.internal.jfr.RelocationEvent;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.LockSupport;

/**
 * The relocation entry points: remap a zone, drain a node, and move an allocation out of removable memory before
 * a long-term pin. Each checks its arguments, closes the source zones to new blocks (and reclaims them from thread
 * caches), runs {@link Relocator} and reports. The mover's passes and batches are {@link Relocator}'s.
 *
 * <p>Remap and drain hold the control lock for their whole run (so no node changes state under them); a drain
 * waiting out a backoff wakes when the allocator is closed, and the operation then throws
 * {@link IllegalStateException}: close never waits out a drain's deadline.
 */
final class Relocations {
    /** A drain with no preferred target node: replacement blocks go by distance from the drained node. */
    static final int NO_TARGET = -1;

    private final AllocatorContext ctx;
    private final NodeLifecycle lifecycle;
    private final CacheRegistry registry;
    private final Listeners listeners;
    private final Telemetry telemetry;
    private final Relocator relocator;
    private final Access access;
    private final Compactor compactor;
    private final Allocation allocation;

    Relocations(AllocatorContext ctx, NodeLifecycle lifecycle, CacheRegistry registry, Listeners listeners,
                Telemetry telemetry, Access access, Compactor compactor, Allocation allocation) {
        this.ctx = ctx;
        this.lifecycle = lifecycle;
        this.registry = registry;
        this.listeners = listeners;
        this.telemetry = telemetry;
        this.access = access;
        this.compactor = compactor;
        this.allocation = allocation;
        this.relocator = new Relocator(ctx);
    }

    /** The body of a reported relocation, run under the control lock. */
    interface Body {
        /**
         * @param listenerError where a listener's Error goes, to be rethrown once the operation is reported
         * @return the report; null only when nothing was done (nothing is reported then)
         */
        RelocationReport run(long startNanos, long deadlineNanos, Error[] listenerError);
    }

    /**
     * The frame of every relocation operation (remap, drain, offline): its deadline from now, the control lock
     * for {@code what}, then once it is released the JFR event and log line, and the first Error a listener threw.
     */
    RelocationReport reported(String what, Duration timeout, Body body) {
        return reported(what, timeout, body, false);
    }

    /**
     * {@link #reported(String, Duration, Body)}, or, with {@code tryOnly}, only if the control lock is free within
     * {@link Governor#LOCK_MILLIS} (for the governor on the agent's thread, which close joins with the lock held).
     *
     * @return the report, or null when {@code tryOnly} and the lock was busy (or the allocator closed), or when the
     *         body did nothing
     */
    RelocationReport reported(String what, Duration timeout, Body body, boolean tryOnly) {
        long start = System.nanoTime();
        long deadline = deadline(start, timeout);
        RelocationEvent event = Telemetry.relocationStarted();
        Error[] listenerError = new Error[1];
        RelocationReport r;
        if (!tryOnly) {
            lifecycle.lock(what);
        } else if (!lifecycle.tryLock(Governor.LOCK_MILLIS)) {
            return null;
        }
        try {
            r = body.run(start, deadline, listenerError);
        } catch (RuntimeException | Error e) {
            if (listenerError[0] != null && listenerError[0] != e) {
                e.addSuppressed(listenerError[0]); // a listener's Error is never lost
            }
            throw e;
        } finally {
            lifecycle.unlock();
        }
        if (r == null) {
            return null;
        }
        telemetry.relocated(event, r);
        Listeners.rethrow(listenerError[0]);
        return r;
    }

    RelocationReport remap(int zoneId, Duration timeout) {
        return reported("remap zone " + zoneId, timeout, (start, deadline, listenerError) -> {
            Topology t = lifecycle.topology();
            Zone z = t.zone(zoneId);
            if (z.node.state == NodeState.UNPLUGGED) {
                throw new IllegalStateException("cannot remap zone " + zoneId + ": node " + z.node.id
                        + " is unplugged");
            }
            Zone[] targets = Arrays.stream(t.zonelists.get(z.node.id, AllocFlags.HOTREMOVABLE))
                    .filter(other -> other != z).toArray(Zone[]::new);
            setDraining(z, true);
            try {
                return relocateUnderControl("remap zone " + zoneId, List.of(z), targets, start, deadline,
                        listenerError);
            } finally {
                setDraining(z, false);
            }
        });
    }

    /** Closes (or reopens) a zone to new blocks while a remap empties it; closing reclaims it from the caches. */
    private void setDraining(Zone z, boolean draining) {
        z.lock.lock();
        try {
            z.setDrainingLocked(draining);
        } finally {
            z.lock.unlock();
        }
        if (draining) {
            registry.reclaimClosed(new Zone[] {z});
        }
    }

    /**
     * @param targetNode the node to move to first, or {@link #NO_TARGET}
     */
    RelocationReport drain(int node, int targetNode, Duration timeout) {
        return reported("drain node " + node, timeout, (start, deadline, listenerError) -> {
            Node n = lifecycle.nodeUnderControl(node);
            if (targetNode != NO_TARGET) {
                lifecycle.nodeUnderControl(targetNode);
                if (targetNode == node) {
                    throw new IllegalArgumentException("drain node " + node + ": the target node " + targetNode
                            + " is the node being drained");
                }
            }
            if (n.state != NodeState.DISABLED) {
                throw new IllegalStateException("cannot drain node " + node + ": it is " + n.state.label()
                        + (n.state == NodeState.ENABLED ? " (disable it first)" : ""));
            }
            String op = "drain node " + node + (targetNode != NO_TARGET ? " to node " + targetNode : "");
            return drainUnderControl(op, n, targetNode, start, deadline, listenerError);
        });
    }

    /**
     * Drains a DISABLED node with the control lock held, with no telemetry of its own (the caller's operation
     * reports once: a drain, or an offline).
     */
    RelocationReport drainUnderControl(String op, Node n, int targetNode, long start, long deadline,
                                       Error[] listenerError) {
        assert lifecycle.isControlHeld() && n.state == NodeState.DISABLED;
        // The node is DISABLED, so no zonelist holds its zones: moves go elsewhere, by distance from the drained
        // node; with a target, to the target's own zones first (its NORMAL zone too), then by distance from it.
        Zonelists zl = lifecycle.topology().zonelists;
        Zone[] targets = targetNode != NO_TARGET ? zl.nodeFirst(targetNode, AllocFlags.HOTREMOVABLE)
                : zl.get(n.id, AllocFlags.HOTREMOVABLE);
        return relocateUnderControl(op, List.of(n.zones), targets, start, deadline, listenerError);
    }

    private RelocationReport relocateUnderControl(String op, List<Zone> sources, Zone[] targets, long start,
                                                  long deadline, Error[] listenerError) {
        RelocationReport r = relocator.relocate(op, sources, targets, start, deadline, p -> {
            Error e = listeners.onProgress(p);
            if (e != null && listenerError[0] == null) {
                listenerError[0] = e;
            }
        }, () -> registry.reclaim(targets));
        if (ctx.isClosed()) {
            throw ctx.closedException(); // woken by close: what moved stays moved, but nothing is left to use
        }
        return r;
    }

    /**
     * Longest {@link #pinLongTerm} waits for other pins (or a move of the block by someone else) to let its block
     * leave removable memory: long enough for the pins of accessors and of short record updates on other threads,
     * short enough for a pin that stays (one the caller holds itself, or in-flight I/O) to fail fast, as Linux
     * fails a long-term pin of a page it cannot migrate.
     */
    static final long LONG_TERM_PIN_WAIT_NANOS = 50_000_000L;
    /** Rounds of {@link #pinLongTerm} that reclaim thread caches for room before it compacts, then fails. */
    private static final int RECLAIM_RETRIES = 3;
    /** Moves of one {@link #pinLongTerm} into NORMAL memory before it gives up on a block that keeps coming back. */
    private static final int MAX_MOVES = 16;

    /**
     * Pins {@code handle}, first moving its block to a NORMAL zone if it is in a MOVABLE one. A block that others
     * keep pinned cannot move: this waits for them (spinning, then yielding, then parking up to a millisecond at a
     * time) for at most {@link #LONG_TERM_PIN_WAIT_NANOS}.
     *
     * @throws AllocationFailedException if no NORMAL zone of an ENABLED node has room, even after reclaiming the
     *                                   thread caches' blocks and compacting them (direct compaction)
     * @throws IllegalStateException if others keep it pinned where it is for that long
     */
    Pin pinLongTerm(long handle) {
        long until = System.nanoTime() + LONG_TERM_PIN_WAIT_NANOS;
        int reclaims = 0;
        int moves = 0;
        boolean compacted = false;
        for (int attempt = 0; ; attempt++) {
            Pin pin = access.pin(handle);
            long[] c = ctx.table.chunk(handle);
            int base = HandleLayout.base(handle);
            long loc = HandleTable.lpLocation(c, base); // stable while pinned
            Topology t = lifecycle.topology();
            Zone z = t.zones[HandleLayout.zoneOfLocation(loc)];
            if (z.type == ZoneType.NORMAL) {
                return pin;
            }
            pin.close();
            Zone[] targets = t.zonelists.get(z.node.id, AllocFlags.NONE);
            Relocator.Outcome o = relocator.move(z, z.pageOf(loc), targets,
                    new Relocator.Progress());
            if (o == Relocator.Outcome.NO_MEMORY) {
                // Room may come from the thread caches' blocks (a few rounds, as an allocation retries) or, once, from
                // a direct compaction of the targets. Bounded: a compaction can report a free block of the order in a
                // zone that takes no blocks (one a remap is emptying), which the next move finds NO_MEMORY again.
                boolean more = reclaims < RECLAIM_RETRIES && registry.reclaim(targets) > 0;
                if (more) {
                    reclaims++;
                } else if (!compacted) {
                    compacted = true;
                    more = compactor.compactFor(targets,
                            allocation.runOrder(access.sizeOf(handle), access.flagsOf(handle)));
                }
                if (!more) {
                    throw new AllocationFailedException("pinLongTerm(0x" + Long.toHexString(handle) + "): no NORMAL "
                            + "zone of an ENABLED node has room for its " + access.sizeOf(handle) + " bytes");
                }
                continue;
            }
            if (o == Relocator.Outcome.MOVED) {
                if (++moves <= MAX_MOVES) {
                    continue; // pinned where it is now, in the next round
                }
                // Each round found it back in removable memory: a remap or drain of its NORMAL zone keeps moving it.
                throw new IllegalStateException("pinLongTerm(0x" + Long.toHexString(handle) + "): moved out of "
                        + "removable memory " + moves + " times, it came back each time (into " + z.label()
                        + "; a remap or drain of its NORMAL zone?)");
            }
            if (System.nanoTime() - until > 0) {
                throw new IllegalStateException("pinLongTerm(0x" + Long.toHexString(handle) + "): "
                        + (o == Relocator.Outcome.PINNED ? "it stayed pinned by others" : "it stayed busy (" + o + ")")
                        + " in MOVABLE " + z.label() + " for " + LONG_TERM_PIN_WAIT_NANOS / 1_000_000
                        + " ms, so it cannot leave removable memory");
            }
            ctx.checkOpen();
            if (attempt < 128 || Thread.currentThread().isInterrupted()) {
                HandleProtocol.backoff(attempt); // parkNanos returns at once for an interrupted thread (flag kept)
            } else {
                LockSupport.parkNanos(Math.min(1_000_000L, 1_000L << Math.min(attempt - 128, 10)));
            }
        }
    }

    /** @return the deadline {@code timeout} after {@code start}, saturated far in the future */
    static long deadline(long start, Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("timeout " + timeout + " is negative");
        }
        long nanos;
        try {
            nanos = timeout.toNanos();
        } catch (ArithmeticException e) {
            nanos = Long.MAX_VALUE / 2;
        }
        return start + Math.min(nanos, Long.MAX_VALUE / 2);
    }
}
