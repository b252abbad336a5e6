package io.hotmem.internal;

import io.hotmem.FailureReason;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.RelocationReport;
import io.hotmem.ZoneType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * The order of node transitions (Linux {@code mm/memory_hotplug.c}): plug, enable, disable, unplug, addNode, the
 * offline transaction with its rollback, and the unplug steps of close. The moving itself is {@link Relocations}
 * and {@link Relocator}; the thread caches' part is {@link CacheRegistry}.
 *
 * <p><b>Control lock.</b> Every transition, relocation and close runs under {@link #control}, taken through
 * {@link #lock(String)}, which refuses a nested call: listeners are called with the lock held, and a listener
 * that starts another transition gets {@link IllegalStateException} rather than a half-done outer one. A method
 * whose name ends in {@code UnderControl} needs the lock held (asserted).
 *
 * <p><b>Publication.</b> The {@link Topology} (nodes, zones, zonelists) is replaced under the control lock and
 * published by the volatile store in {@link #publish} (into {@link AllocatorContext#topology}, where the
 * allocation paths read it with the rest of the context); a new node, its zones, their memory and the zonelists that
 * include it are complete before that store, so a reader that counts the node can use it.
 *
 * <p><b>Node state.</b> A node's state and its zones' openness are written with all of the node's zone locks
 * held, so a zone lock holder always sees them agree. When a disable returns, no allocation can take a block
 * from the node any more (the zone lock decides, not the zonelist), and no thread cache holds one.
 */
final class NodeLifecycle {
    private final AllocatorContext ctx;
    private final Telemetry telemetry;
    private final Listeners listeners;
    private final CacheRegistry registry;
    private final MemoryTable memory;
    /** Serialises node transitions, relocations and close. Taken before any other lock. */
    private final ReentrantLock control = new ReentrantLock();
    /** Unplugged nodes whose memory could not be given back yet (see {@link #unplugUnderControl}); control lock. */
    private final List<Node> stillMapped = new ArrayList<>();
    /** Counted down when the first close() has finished; a second close() waits for it. */
    private final CountDownLatch closeDone = new CountDownLatch(1);
    /** Where the next added node goes in the address range; control lock. */
    private long nextNodeOffset;

    NodeLifecycle(AllocatorContext ctx, Telemetry telemetry, Listeners listeners, CacheRegistry registry,
                  MemoryTable memory) {
        this.ctx = ctx;
        this.telemetry = telemetry;
        this.listeners = listeners;
        this.registry = registry;
        this.memory = memory;
    }

    /** @return the nodes, zones and zonelists as of now */
    Topology topology() {
        return ctx.topology;
    }

    // ------------------------------------------------------------------------------------------------ control

    /**
     * Takes the control lock for {@code what}.
     *
     * @throws IllegalStateException if the calling thread holds it already (a listener callback starting another
     *         transition), or the allocator is closed
     */
    void lock(String what) {
        if (control.isHeldByCurrentThread()) {
            throw new IllegalStateException(what + ": refused inside a HotplugListener callback (the allocator is in "
                    + "the middle of another node transition on this thread)");
        }
        control.lock();
        if (ctx.isClosed()) {
            control.unlock();
            throw ctx.closedException();
        }
    }

    /**
     * Takes the control lock for {@code what} if it is free within {@code millis} (for the governor, which must not
     * make an allocation wait out a drain).
     *
     * <p>Not interruptible: an interrupted caller waits the same bounded time and keeps its interrupt status. The
     * caller is an allocation (which has no interrupt contract: an interrupted thread's allocation must grow the
     * allocator as any other does) or the agent (whose stop does not depend on this wait, {@code millis} at most).
     *
     * @return whether it was taken; false also when the calling thread holds it (a listener callback) or the
     *         allocator is closed
     */
    boolean tryLock(long millis) {
        if (control.isHeldByCurrentThread()) {
            return false;
        }
        boolean interrupted = Thread.interrupted();
        try {
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(millis);
            while (true) {
                try {
                    if (!control.tryLock(deadline - System.nanoTime(), java.util.concurrent.TimeUnit.NANOSECONDS)) {
                        return false;
                    }
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // wait out the rest; the status goes back below
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        if (ctx.isClosed()) {
            control.unlock();
            return false;
        }
        return true;
    }

    void unlock() {
        control.unlock();
    }

    /** @return the bytes of every node that is not UNPLUGGED (any thread; the states are read one by one) */
    long pluggedBytes() {
        return ctx.topology.pluggedBytes();
    }

    boolean isControlHeld() {
        return control.isHeldByCurrentThread();
    }

    /** @return node {@code id} (control lock held) */
    Node nodeUnderControl(int id) {
        assert control.isHeldByCurrentThread();
        Node[] ns = ctx.topology.nodes;
        if (id < 0 || id >= ns.length) {
            throw new IllegalArgumentException("unknown node " + id + " (nodes 0.." + (ns.length - 1) + ")");
        }
        return ns[id];
    }

    private void publish(Topology t) {
        assert control.isHeldByCurrentThread();
        ctx.topology = t; // publishes nodes, zones and zonelists, complete
    }

    // ------------------------------------------------------------------------------------------------ transitions

    void plug(int node) {
        lock("plug node " + node);
        try {
            Node n = nodeUnderControl(node);
            if (n.state != NodeState.UNPLUGGED) {
                throw new IllegalStateException("cannot plug node " + node + ": it is " + n.state.label()
                        + " (plugged already)");
            }
            plugAskedUnderControl(n);
        } finally {
            control.unlock();
        }
    }

    /**
     * Plugs {@code n} after the checks that need no listener (limit, a retired scope) and then the listeners'
     * {@code onGoingOnline}; a plug that fails after they agreed tells them {@code onCancelOnline}.
     */
    private void plugAskedUnderControl(Node n) {
        checkLimitUnderControl(n);
        releaseStillMapped();
        checkNotRetired(n);
        goingOnlineUnderControl(n, "plug");
        try {
            plugUnderControl(n);
        } catch (RuntimeException | Error e) {
            Error cancelError = listeners.onCancelOnline(n.id);
            if (cancelError != null && cancelError != e) {
                e.addSuppressed(cancelError);
            }
            throw e;
        }
    }

    /** Enables a DISABLED {@code n} that was just plugged, after the listeners agree; on a veto unplugs it again. */
    private void enableAskedUnderControl(Node n) {
        try {
            goingOnlineUnderControl(n, "enable");
        } catch (RuntimeException | Error e) {
            unplugUnderControl(n, false); // nothing can be allocated from a DISABLED node: it is empty
            throw e;
        }
        setStateUnderControl(n, NodeState.ENABLED);
    }

    private static void checkNotRetired(Node n) {
        if (n.retiredScope != null) {
            throw new IllegalStateException("cannot plug node " + n.id + ": a segment handed out before its last "
                    + "unplug is still inside an operation (blocking I/O); plug it again once that ends");
        }
    }

    /**
     * Plugs and enables an UNPLUGGED node for the governor (control lock held): the limit and the listeners
     * decide as for {@link #plug} and {@link #enable}.
     *
     * @throws IllegalStateException if the limit or a listener refuses (the node keeps its state)
     */
    void plugAndEnableUnderControl(Node n) {
        assert control.isHeldByCurrentThread();
        plugAskedUnderControl(n);
        enableAskedUnderControl(n);
        Error listenerError = listeners.onOnline(n.id);
        Listeners.rethrow(listenerError);
    }

    /** @throws IllegalStateException if plugging {@code n} would take plugged bytes past the capacity limit */
    private void checkLimitUnderControl(Node n) {
        long limit = ctx.capacityLimit;
        long plugged = pluggedBytes();
        if (limit != Long.MAX_VALUE && plugged + n.spec.bytes() > limit) {
            throw new IllegalStateException("cannot plug node " + n.id + ": its " + n.spec.bytes() + " bytes and "
                    + "the " + plugged + " plugged would pass the capacity limit of " + limit + " bytes");
        }
    }

    /**
     * Asks the listeners whether {@code n} may come online ({@code onGoingOnline}); on a veto tells them
     * {@code onCancelOnline} and throws: the node keeps its state.
     *
     * @throws IllegalStateException with the veto as its cause; or the Error a listener threw
     */
    private void goingOnlineUnderControl(Node n, String what) {
        Throwable veto = listeners.goingOnline(n.id);
        if (veto == null) {
            return;
        }
        Error cancelError = listeners.onCancelOnline(n.id);
        if (veto instanceof Error e) {
            if (cancelError != null) {
                e.addSuppressed(cancelError);
            }
            throw e;
        }
        IllegalStateException refused = new IllegalStateException("cannot " + what + " node " + n.id
                + ": a HotplugListener vetoed it in onGoingOnline (" + veto + ")", veto);
        if (cancelError != null) {
            cancelError.addSuppressed(refused);
            throw cancelError;
        }
        throw refused;
    }

    void enable(int node) {
        Error listenerError;
        lock("enable node " + node);
        try {
            Node n = nodeUnderControl(node);
            if (n.state != NodeState.DISABLED) {
                throw new IllegalStateException("cannot enable node " + node + ": it is " + n.state.label()
                        + (n.state == NodeState.UNPLUGGED ? " (plug it first)" : " already"));
            }
            goingOnlineUnderControl(n, "enable");
            setStateUnderControl(n, NodeState.ENABLED);
            listenerError = listeners.onOnline(node);
        } finally {
            control.unlock();
        }
        Listeners.rethrow(listenerError);
    }

    void disable(int node) {
        lock("disable node " + node);
        try {
            Node n = nodeUnderControl(node);
            if (n.state != NodeState.ENABLED) {
                throw new IllegalStateException("cannot disable node " + node + ": it is " + n.state.label());
            }
            setStateUnderControl(n, NodeState.DISABLED);
        } finally {
            control.unlock();
        }
    }

    void unplug(int node) {
        lock("unplug node " + node);
        try {
            Node n = nodeUnderControl(node);
            if (n.state != NodeState.DISABLED) {
                throw new IllegalStateException("cannot unplug node " + node + ": it is " + n.state.label()
                        + (n.state == NodeState.ENABLED ? " (disable it first)" : ""));
            }
            unplugUnderControl(n, false);
        } finally {
            control.unlock();
        }
    }

    /** @return the new node's id */
    int addNode(NodeSpec spec) {
        Objects.requireNonNull(spec, "spec");
        Error listenerError = null;
        int added;
        lock("addNode");
        try {
            Topology t = ctx.topology;
            int id = t.nodes.length;
            checkSpec(id, spec, t.zones.length);
            long at = nextNodeOffset;
            long room = ctx.addressSpace - at;
            if (spec.bytes() > room) {
                throw new IllegalStateException("node " + id + ": " + spec.bytes() + " bytes do not fit in the "
                        + room + " bytes left of the allocator's address space of " + ctx.addressSpace
                        + " bytes (set PageAllocator.Builder.addressSpace)");
            }
            int zoneId = t.zones.length;
            Node n = new Node(id, spec, at, new Zone[(spec.hotRemovable() || spec.movableBytes() == 0) ? 1 : 2]);
            long normalBytes = spec.bytes() - spec.movableBytes();
            int z = 0;
            if (normalBytes > 0) {
                n.zones[z++] = new Zone(zoneId++, ZoneType.NORMAL, n, at, (int) (normalBytes >>> ctx.pageShift),
                        ctx.pageShift, ctx.maxOrder, ctx.ticker, ctx.residentFreeLimit);
            }
            if (spec.movableBytes() > 0) {
                n.zones[z] = new Zone(zoneId++, ZoneType.MOVABLE, n, at + normalBytes,
                        (int) (spec.movableBytes() >>> ctx.pageShift), ctx.pageShift, ctx.maxOrder, ctx.ticker,
                        ctx.residentFreeLimit);
            }
            memory.ensure(zoneId);
            if (spec.initialState() != NodeState.UNPLUGGED) {
                plugAskedUnderControl(n); // a veto adds nothing
                if (spec.initialState() == NodeState.ENABLED) {
                    enableAskedUnderControl(n); // a veto unplugs it again and adds nothing
                }
            }
            Zone[] zones = Arrays.copyOf(t.zones, zoneId);
            System.arraycopy(n.zones, 0, zones, t.zones.length, n.zones.length);
            Node[] nodes = Arrays.copyOf(t.nodes, id + 1);
            nodes[id] = n;
            nextNodeOffset = at + spec.bytes();
            publish(new Topology(nodes, zones));
            if (n.state == NodeState.ENABLED) {
                listenerError = listeners.onOnline(id);
            }
            added = id;
        } finally {
            control.unlock();
        }
        Listeners.rethrow(listenerError);
        return added;
    }

    /** Validates a node's spec before anything is built for it. */
    void checkSpec(int id, NodeSpec spec, int zonesSoFar) {
        if (spec.bytes() % ctx.pageSize != 0 || spec.movableBytes() % ctx.pageSize != 0) {
            throw new IllegalArgumentException("node " + id + ": size " + spec.bytes() + " and movable size "
                    + spec.movableBytes() + " must be multiples of the page size " + ctx.pageSize);
        }
        if ((spec.bytes() >>> ctx.pageShift) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("node " + id + ": size " + spec.bytes() + " is more than "
                    + Integer.MAX_VALUE + " pages of " + ctx.pageSize + " bytes");
        }
        if (zonesSoFar + 2 > HandleLayout.MAX_ZONES) {
            throw new IllegalArgumentException("node " + id + ": too many zones (" + zonesSoFar + ", at most "
                    + HandleLayout.MAX_ZONES + ")");
        }
    }

    // ------------------------------------------------------------------------------------------------ offline

    /**
     * The offline transaction: disable, ask the listeners, drain, then the commit point after which the node is
     * unplugged. Before the commit point any failure (a veto, a drain that did not finish, close, an Error from a
     * listener) restores the previous state and tells the listeners {@code onCancelOffline}.
     */
    RelocationReport offline(int node, Duration timeout, Relocations relocations) {
        return relocations.reported("offline node " + node, timeout, (start, deadline, listenerError) ->
                offlineUnderControl(nodeUnderControl(node), start, deadline, relocations, listenerError));
    }

    /**
     * {@link #offline} for the governor, of the node {@code pick} chooses under the control lock: from the node
     * states as they are there, so that a transition since the governor last looked (an operator's offline that met
     * the limit, or took the very node) is seen rather than acted on.
     *
     * @param tryOnly only try the lock (the agent's thread), as {@link Relocations#reported} does
     * @return the report, or null when {@code pick} chose none or the lock was busy
     */
    RelocationReport offlinePicked(Supplier<Node> pick, Duration timeout, Relocations relocations, boolean tryOnly) {
        return relocations.reported("offline (capacity limit)", timeout, (start, deadline, listenerError) -> {
            Node n = pick.get();
            return n == null ? null : offlineUnderControl(n, start, deadline, relocations, listenerError);
        }, tryOnly);
    }

    private RelocationReport offlineUnderControl(Node n, long start, long deadline, Relocations relocations,
                                                 Error[] listenerError) {
        String op = "offline node " + n.id;
        if (!n.spec.hotRemovable()) {
            throw new IllegalStateException("cannot " + op + ": it is not hot-removable");
        }
        if (n.state == NodeState.UNPLUGGED) {
            throw new IllegalStateException("cannot " + op + ": it is unplugged already");
        }
        NodeState previous = n.state;
        if (previous == NodeState.ENABLED) {
            setStateUnderControl(n, NodeState.DISABLED);
        }
        Throwable objection = listeners.goingOffline(n.id);
        if (objection != null) {
            cancelOfflineUnderControl(n, previous, listenerError);
            if (objection instanceof Error e) {
                throw e;
            }
            return new RelocationReport(op, false, 0, 0, Zone.liveBlocks(List.of(n.zones)), List.of(),
                    Map.of(FailureReason.VETOED, 1), Duration.ofNanos(System.nanoTime() - start));
        }
        RelocationReport drained;
        try {
            drained = relocations.drainUnderControl(op, n, Relocations.NO_TARGET, start, deadline, listenerError);
        } catch (RuntimeException | Error e) {
            cancelOfflineUnderControl(n, previous, listenerError); // close, or a failure inside the drain
            throw e;
        }
        if (!drained.complete()) {
            cancelOfflineUnderControl(n, previous, listenerError);
            return drained;
        }
        // Commit point: the node is empty and DISABLED, so nothing can land on it; it goes now.
        unplugUnderControl(n, false);
        keepFirst(listenerError, listeners.onOffline(n.id));
        return drained;
    }

    private void cancelOfflineUnderControl(Node n, NodeState previous, Error[] listenerError) {
        if (previous == NodeState.ENABLED && n.state == NodeState.DISABLED && !ctx.isClosed()) {
            setStateUnderControl(n, NodeState.ENABLED);
        }
        keepFirst(listenerError, listeners.onCancelOffline(n.id));
    }

    private static void keepFirst(Error[] first, Error e) {
        if (e != null) {
            if (first[0] == null) {
                first[0] = e;
            } else {
                first[0].addSuppressed(e);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ close

    /**
     * Closes: marks the allocator closed (every later call fails, a relocation waiting out a backoff stops), runs
     * {@code beforeTeardown} (stop the agent, unregister the MBean), disables every ENABLED node, detaches every
     * thread cache, unplugs every node (live allocations or not), retires the handle table (every handle is stale
     * from then on, even where the range stays mapped) and gives the handle tag back. A second call
     * waits for the first to finish, then returns.
     *
     * @throws IllegalStateException when called from a listener callback
     */
    void close(Runnable beforeTeardown) {
        if (control.isHeldByCurrentThread()) {
            throw new IllegalStateException("close: refused inside a HotplugListener callback (the allocator is in "
                    + "the middle of a node transition on this thread)");
        }
        if (!ctx.markClosed()) {
            awaitCloseDone(); // not the control lock: the first close may not have taken it yet
            return;
        }
        control.lock();
        try {
            boolean scopesClosed = true;
            boolean leaksClosed = false; // leaks.close returned: it knows every scope it left open, for a retry
            try {
                beforeTeardown.run();
            } finally {
                try {
                    // Logs what is still live, then closes every PARANOID segment scope while the memory is there.
                    scopesClosed = false; // until leaks.close says otherwise: an exception keeps the range mapped
                    scopesClosed = ctx.leaks.close(ctx.table);
                    leaksClosed = true;
                    Node[] nodes = ctx.topology.nodes;
                    for (Node n : nodes) {
                        if (n.state == NodeState.ENABLED) {
                            setStateUnderControl(n, NodeState.DISABLED);
                        }
                    }
                    // No cache operation is in flight after this, and none starts: a cache never touches a zone
                    // that is unplugged below.
                    registry.detachAll();
                    for (Node n : nodes) {
                        if (n.state != NodeState.UNPLUGGED) {
                            unplugUnderControl(n, true);
                        }
                    }
                } finally {
                    try {
                        releaseStillMapped();
                        if (!scopesClosed) {
                            Telemetry.LOG.log(System.Logger.Level.WARNING, ctx.name + ": closed while a segment "
                                    + "scoped by PARANOID leak detection is inside an operation (blocking I/O): the "
                                    + "allocator's address range stays mapped until it ends");
                        }
                        if (!stillMapped.isEmpty()) {
                            Telemetry.LOG.log(System.Logger.Level.WARNING, ctx.name + ": closed while a segment "
                                    + "of node " + stillMapped.get(0).id + " is inside an operation (blocking I/O): "
                                    + "the allocator's address range stays mapped");
                        }
                        boolean rangeClosed = false;
                        try {
                            ctx.range.close(!stillMapped.isEmpty() || !scopesClosed);
                            rangeClosed = true;
                        } catch (IllegalStateException e) {
                            // A scoped read's view is inside an operation (blocking I/O): the range cannot be
                            // closed now; it stays mapped rather than be unmapped under that operation.
                            Telemetry.LOG.log(System.Logger.Level.WARNING, ctx.name + ": closed while a scoped "
                                    + "read's segment is inside an operation (blocking I/O): the allocator's address "
                                    + "range stays mapped", e);
                        }
                        if (leaksClosed && (!scopesClosed || !rangeClosed || !stillMapped.isEmpty())) {
                            // Once the operations end: the leak detector's and the node scopes close, so those
                            // segments throw from then on, and the range is unmapped. (If leaks.close threw, a
                            // scope it did not get to may be open: the range stays mapped, logged above.)
                            LateRelease.retry(ctx.name, this::releaseAfterClose);
                        }
                    } finally {
                        // Every handle stale from here, also where the range stayed mapped above (the typed reads
                        // would otherwise go on reading it); then the tag is free for another allocator.
                        ctx.table.retire();
                        ctx.table.releaseTag();
                    }
                }
            }
        } finally {
            control.unlock();
            closeDone.countDown(); // publishes the teardown to every second close()
        }
    }

    /** A second close(): returns once the first has torn down (or failed trying), keeping an interrupt. */
    private void awaitCloseDone() {
        boolean interrupted = false;
        while (true) {
            try {
                closeDone.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------------------------------------ steps

    /**
     * Hands the node's part of the address range to its zones (nothing is mapped: the range is reserved already,
     * and reads as zeros where it was never touched or was given back), with a new scope for the segments handed to
     * users; the node becomes DISABLED. Its caller, {@link #plugAskedUnderControl}, has checked that no segment of
     * the node's last plugging is still in use.
     */
    private void plugUnderControl(Node n) {
        assert control.isHeldByCurrentThread() && n.retiredScope == null;
        Arena scope = Arena.ofShared();
        MemorySegment userView = ctx.range.view(n.offsetInRange, n.spec.bytes(), scope);
        n.lockZones();
        try {
            for (Zone z : n.zones) {
                long bytes = (long) z.pages << ctx.pageShift;
                z.plugLocked(ctx.memory.asSlice(z.offsetInRange, bytes), ctx.range);
                memory.set(z.id, userView.asSlice(z.offsetInRange - n.offsetInRange, bytes));
            }
            n.userScope = scope;
            n.state = NodeState.DISABLED;
        } catch (RuntimeException | Error e) {
            // A page map that does not fit the heap, typically: the node stays UNPLUGGED.
            for (Zone z : n.zones) {
                z.unplugLocked();
                memory.set(z.id, MemoryTable.NO_MEMORY);
            }
            scope.close();
            throw e;
        } finally {
            n.unlockZones();
        }
        telemetry.nodeState(n.id, NodeState.UNPLUGGED, NodeState.DISABLED, " (" + n.spec.bytes() + " bytes)");
        publish(ctx.topology.rebuilt());
    }

    /**
     * Sets a plugged node's state (ENABLED or DISABLED) with all its zone locks held; after a disable, reclaims
     * every thread cache's blocks of its zones; republishes the zonelists.
     */
    private void setStateUnderControl(Node n, NodeState state) {
        assert control.isHeldByCurrentThread() && state != NodeState.UNPLUGGED;
        NodeState from = n.state;
        n.lockZones();
        try {
            for (Zone z : n.zones) {
                z.setOpenLocked(state == NodeState.ENABLED);
            }
            n.state = state;
        } finally {
            n.unlockZones();
        }
        if (state != NodeState.ENABLED) {
            registry.reclaimClosed(n.zones);
        }
        telemetry.nodeState(n.id, from, state, "");
        publish(ctx.topology.rebuilt());
    }

    /**
     * Waits (at most {@link #COMPACTION_WAIT_NANOS}) for the compactions of {@code n}'s zones in flight to end: the
     * node is DISABLED, so each stops at its next batch, and its target blocks, live blocks to the zone until then,
     * are not the user's allocations that keep a node plugged.
     */
    private static void awaitCompactions(Node n) {
        long until = System.nanoTime() + COMPACTION_WAIT_NANOS;
        for (Zone z : n.zones) {
            for (int spins = 0; z.compactions.get() > 0 && System.nanoTime() - until < 0; spins++) {
                HandleProtocol.backoff(spins);
            }
        }
    }

    /** Longest an unplug waits for a compaction of the node's zones to end (one batch of copies). */
    static final long COMPACTION_WAIT_NANOS = 2_000_000_000L;

    /**
     * Unplugs a DISABLED node: its zones forget their memory, its user scope closes (a shared arena's close: every
     * access in flight on another thread through a user segment ends first, and later ones throw), then its part
     * of the range goes back to the OS and reads as zeros: a late optimistic reader of an old copy reads zeros and
     * fails its validation.
     *
     * @param force at close: unplug even with live allocations
     * @throws IllegalStateException if not forced and the node holds live allocations
     */
    private void unplugUnderControl(Node n, boolean force) {
        assert control.isHeldByCurrentThread();
        NodeState from = n.state;
        if (!force) {
            awaitCompactions(n);
        }
        n.lockZones();
        try {
            int used = 0;
            int held = 0;
            for (Zone z : n.zones) {
                used += z.liveBlocksLocked();
                held += z.heldByOperationsLocked();
            }
            if (used > 0 && !force) {
                throw new IllegalStateException(cannotUnplug(n, used, held));
            }
            for (Zone z : n.zones) {
                z.unplugLocked();
                memory.set(z.id, MemoryTable.NO_MEMORY);
            }
            n.state = NodeState.UNPLUGGED;
        } finally {
            n.unlockZones();
        }
        Arena scope = n.userScope;
        n.userScope = null;
        boolean closed = false;
        try {
            scope.close();
            closed = true;
        } catch (IllegalStateException e) {
            // A segment of this memory is held by an operation in flight (an I/O call on a Pin's segment keeps
            // its arena acquired): the memory cannot be given back now. The node is unplugged all the same; the
            // release is retried at every later plug and unplug and at close.
            Telemetry.LOG.log(System.Logger.Level.WARNING, ctx.name + ": node " + n.id + "'s memory is still in "
                    + "use by an operation on one of its segments; it is returned to the OS once that ends", e);
            n.retiredScope = scope;
            stillMapped.add(n);
        }
        if (closed && !ctx.isClosed()) { // at close the whole range is unmapped next
            ctx.range.release(n.offsetInRange, n.spec.bytes());
        }
        releaseStillMapped();
        telemetry.nodeState(n.id, from, NodeState.UNPLUGGED, "");
        publish(ctx.topology.rebuilt());
    }

    /** @param used the node's used blocks, of which {@code held} are freed ones an operation still uses */
    private static String cannotUnplug(Node n, int used, int held) {
        int live = used - held;
        String s = "cannot unplug node " + n.id + ": it holds ";
        if (live > 0) {
            s += live + " live allocation" + (live == 1 ? "" : "s") + " (free or drain them first)";
        }
        if (used > live) {
            s += (live > 0 ? ", and " : "") + (used - live) + " freed block" + (used - live == 1 ? "" : "s")
                    + " that blocking I/O still uses through segment(h) (PARANOID: given back once the I/O ends)";
        }
        return s;
    }

    /**
     * Close's late release ({@link LateRelease}): closes the PARANOID leak detector's scopes and the user scopes of
     * nodes that close had to leave open, then unmaps the range. Nothing else of the allocator runs any more (it is
     * closed), so nothing but this touches the scopes and the range.
     *
     * @return whether everything is released (false: an operation still uses a segment; try again later)
     */
    private boolean releaseAfterClose() {
        control.lock();
        try {
            boolean scopesClosed = ctx.leaks.closeScopesLeftOpen(); // a PARANOID scope views a node's memory
            closeRetiredScopes(false); // the range goes whole below
            if (!scopesClosed || !stillMapped.isEmpty()) {
                return false;
            }
            try {
                ctx.range.close(false);
            } catch (IllegalStateException e) {
                return false; // a scoped read's view is still inside an operation
            }
            Telemetry.LOG.log(System.Logger.Level.INFO, ctx.name + ": the memory that close left mapped is "
                    + "released");
            return true;
        } finally {
            control.unlock();
        }
    }

    /** Tries again to return the memory of unplugged nodes whose segments were in use at their unplug. */
    private void releaseStillMapped() {
        closeRetiredScopes(true);
    }

    /**
     * Closes the user scope of each node in {@link #stillMapped} that no operation uses any more, and forgets it;
     * with {@code giveBack}, gives its memory back too ({@link io.hotmem.internal.prim.AddressRange#release}).
     */
    private void closeRetiredScopes(boolean giveBack) {
        assert control.isHeldByCurrentThread();
        stillMapped.removeIf(n -> {
            try {
                n.retiredScope.close();
            } catch (IllegalStateException e) {
                return false;
            }
            n.retiredScope = null;
            if (giveBack) {
                ctx.range.release(n.offsetInRange, n.spec.bytes());
            }
            return true;
        });
    }
}
