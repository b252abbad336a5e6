package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.Pin;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.ToLongFunction;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Reads and writes through handles: typed accessors, scoped reads, copies, pins and segments, and the facts of an
 * allocation (size, zone, flags). Never locks. Small reads and scoped reads are optimistic with a pinned fallback;
 * everything else goes through one pinned-access helper, {@link #pinForRange}: pin (see {@link HandleProtocol}),
 * check open and the range, read the stable location; the caller works, then unpins.
 *
 * <p><b>One segment.</b> Every access goes through {@link AllocatorContext#memory}, the allocator's whole address
 * range, at the byte offset the location word gives: one mask and one shift, no per-zone lookup. An optimistic
 * reader that read a location which then moved on, and whose node was unplugged meanwhile, reads zeros there
 * (unplug gives the pages back, the range stays mapped): its validation fails and it retries; it never faults.
 *
 * <p>A memory access that fails under a pin can fail only because the allocator was closed meanwhile (its range
 * is closed); {@link AllocatorContext#closedOr} reports that, not the segment's own exception.
 */
final class Access {
    /** Optimistic attempts before a read falls back to pinning. */
    private static final int OPTIMISTIC_TRIES = 4;

    private final AllocatorContext ctx;
    private final HandleTable table;
    /** The allocator's whole range ({@link AllocatorContext#memory}). */
    private final MemorySegment memory;
    /** The same, read-only: what scoped readers see slices of. */
    private final MemorySegment readOnly;
    /** The segments handed to users. */
    private final MemoryTable userSegments;
    private final int pageShift;
    private final LeakDetector leaks;

    Access(AllocatorContext ctx, MemoryTable userSegments) {
        this.ctx = ctx;
        this.table = ctx.table;
        this.memory = ctx.memory;
        this.readOnly = ctx.memory.asReadOnly();
        this.userSegments = userSegments;
        this.pageShift = ctx.pageShift;
        this.leaks = ctx.leaks;
    }

    // ------------------------------------------------------------------------------------------------ facts

    long sizeOf(long handle) {
        return readWord(handle, HandleLayout.SIZE);
    }

    int zoneOf(long handle) {
        return HandleLayout.zoneOfLocation(readWord(handle, HandleLayout.LOCATION));
    }

    int flagsOf(long handle) {
        return (int) readWord(handle, HandleLayout.FLAGS) & AllocFlags.ALL; // not FLAG_TRACKED
    }

    /** Reads one word of a live entry, validated like an optimistic read. */
    private long readWord(long handle, int word) {
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        for (int spins = 0; ; spins++) {
            long s = HandleProtocol.beginRead(c, base, handle);
            long v = c[base + word];
            if (HandleProtocol.validate(c, base, s)) {
                return v;
            }
            HandleProtocol.backoff(spins);
        }
    }

    // ------------------------------------------------------------------------------------------------ typed

    /**
     * Optimistic read of {@code width} bytes (1, 4 or 8) with a pinned fallback. The first attempt is inlined into
     * callers and has no exception handler: its load stays inside the range whatever it read (see the slack in
     * {@link AllocatorContext#range}), and it can throw only once the range is closed, which the facade reports as
     * closed.
     */
    long read(long handle, long offset, int width) {
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        long s = HandleProtocol.beginRead(c, base, handle);
        long size = HandleTable.lpSize(c, base);
        long loc = HandleTable.lpLocation(c, base);
        if (offset >= 0 && offset <= size - width) {
            long value = load(memory, offsetOf(loc) + offset, width);
            if (HandleProtocol.validate(c, base, s)) {
                return value;
            }
        }
        return readContended(c, base, handle, offset, width);
    }

    /** The rest of {@link #read}: more optimistic attempts, then under a pin. */
    private long readContended(long[] c, int base, long handle, long offset, int width) {
        for (int attempt = 1; attempt < OPTIMISTIC_TRIES; attempt++) {
            long s = HandleProtocol.beginRead(c, base, handle);
            long size = HandleTable.lpSize(c, base);
            long loc = HandleTable.lpLocation(c, base);
            if (offset < 0 || offset > size - width) {
                break; // decided under a pin, where size is stable
            }
            long value;
            try {
                value = load(memory, offsetOf(loc) + offset, width);
            } catch (IllegalStateException | IndexOutOfBoundsException e) {
                // The range is closed (the pinned path reports it), or a size and a location of two allocations
                // (the slot was reused meanwhile: validation would fail).
                continue;
            }
            if (HandleProtocol.validate(c, base, s)) {
                return value;
            }
        }
        long loc = pinForRange(c, base, handle, offset, width);
        try {
            return load(memory, offsetOf(loc) + offset, width);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            throw ctx.closedOr(e);
        } finally {
            HandleProtocol.unpin(c, base);
        }
    }

    void write(long handle, long offset, int width, long value) {
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        long loc = pinForRange(c, base, handle, offset, width);
        try {
            store(memory, offsetOf(loc) + offset, width, value);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            throw ctx.closedOr(e);
        } finally {
            HandleProtocol.unpin(c, base);
        }
    }

    private static long load(MemorySegment m, long at, int width) {
        return switch (width) {
            case Long.BYTES -> m.get(JAVA_LONG_UNALIGNED, at);
            case Integer.BYTES -> m.get(JAVA_INT_UNALIGNED, at);
            default -> m.get(JAVA_BYTE, at);
        };
    }

    private static void store(MemorySegment m, long at, int width, long value) {
        switch (width) {
            case Long.BYTES -> m.set(JAVA_LONG_UNALIGNED, at, value);
            case Integer.BYTES -> m.set(JAVA_INT_UNALIGNED, at, (int) value);
            default -> m.set(JAVA_BYTE, at, (byte) value);
        }
    }

    // ------------------------------------------------------------------------------------------------ bulk

    void copyFrom(MemorySegment src, long srcOffset, long handle, long offset, long bytes) {
        Objects.requireNonNull(src, "src");
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        long loc = pinForRange(c, base, handle, offset, bytes);
        try {
            MemorySegment.copy(src, srcOffset, memory, offsetOf(loc) + offset, bytes);
        } catch (IllegalStateException e) {
            throw ctx.closedOr(e); // src's own bounds and scope errors stay as they are
        } finally {
            HandleProtocol.unpin(c, base);
        }
    }

    void copyTo(long handle, long offset, MemorySegment dst, long dstOffset, long bytes) {
        Objects.requireNonNull(dst, "dst");
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        long loc = pinForRange(c, base, handle, offset, bytes);
        try {
            MemorySegment.copy(memory, offsetOf(loc) + offset, dst, dstOffset, bytes);
        } catch (IllegalStateException e) {
            throw ctx.closedOr(e);
        } finally {
            HandleProtocol.unpin(c, base);
        }
    }

    Pin pin(long handle) {
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        long loc = pinForRange(c, base, handle, 0, 0);
        try {
            long size = HandleTable.lpSize(c, base);
            // A pin of a tracked allocation is tracked. One allocation site whatever the level: a tracked pin differs
            // only by its token (see LeakDetector), so a pin that its caller closes stays a candidate for scalar
            // replacement.
            LeakDetector.PinToken token = (HandleTable.lpFlags(c, base) & HandleLayout.FLAG_TRACKED) == 0 ? null
                    : leaks.trackPin(handle, size);
            return new PinImpl(handle, c, base, memory, offsetOf(loc), size, this, loc, token);
        } catch (RuntimeException | Error e) {
            HandleProtocol.unpin(c, base);
            throw e;
        }
    }

    /**
     * The user segment of {@code size} bytes at location {@code loc}: a slice of its zone's user view, so it
     * throws once the node is unplugged. The caller holds the location stable (a pin, or a non-movable block).
     */
    MemorySegment userSegment(long handle, long loc, long size) {
        Zone z = ctx.topology.zones[HandleLayout.zoneOfLocation(loc)];
        MemorySegment zoneView = userSegments.of(z.id);
        long at = z.byteOffset(z.pageOf(loc));
        if (zoneView.byteSize() < at + size) {
            // Only close() unplugs a zone with a live block: the segment would be empty.
            throw ctx.closedOr(new IllegalStateException("the memory of handle 0x" + Long.toHexString(handle)
                    + " is gone"));
        }
        return zoneView.asSlice(at, size);
    }

    MemorySegment segment(long handle) {
        if ((flagsOf(handle) & AllocFlags.HOTREMOVABLE) != 0) {
            throw new IllegalStateException("segment(0x" + Long.toHexString(handle)
                    + "): the allocation is movable (HOTREMOVABLE); use pin(handle)");
        }
        // A non-movable allocation never moves, so its location is fixed for its life.
        long loc = readWord(handle, HandleLayout.LOCATION);
        MemorySegment s = userSegment(handle, loc, readWord(handle, HandleLayout.SIZE));
        if (!leaks.paranoid) {
            return s;
        }
        MemorySegment scoped = leaks.scoped(handle, s);
        if (scoped == null) {
            readWord(handle, HandleLayout.STATE); // freed meanwhile: throws StaleHandleException
            throw new IllegalStateException("segment(0x" + Long.toHexString(handle) + "): the allocation is not "
                    + "tracked by PARANOID leak detection");
        }
        return scoped;
    }

    /** The user segment of an open pin: {@link #userSegment}, scoped by the pin at PARANOID. */
    MemorySegment pinSegment(LeakDetector.PinToken tracked, long handle, long loc, long size) {
        MemorySegment s = userSegment(handle, loc, size);
        // The level first: below PARANOID the test never passes, so a tracked pin's branch is not in the profile.
        return leaks.paranoid && tracked != null ? leaks.scoped(tracked.state, s) : s;
    }

    // ------------------------------------------------------------------------------------------------ scoped

    /**
     * A scoped read: {@code reader} sees a read-only view of the allocation, optimistically (possibly stale, as
     * the contract in {@code PageAllocator.read} says), then under a pin.
     *
     * <p>Like {@link #read(long, long, int)}, the first attempt is all that a caller inlines: small enough that the
     * JIT inlines it (and the reader into it) into the caller's loop, where the view is scalar-replaced; the
     * handler of a reader's exception and every later attempt are calls out of line.
     */
    <R> R read(long handle, Function<? super MemorySegment, ? extends R> reader) {
        Objects.requireNonNull(reader, "reader");
        ctx.checkOpen(); // a reader that touches no memory would otherwise not notice a closed allocator
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        long s = HandleProtocol.beginRead(c, base, handle);
        long size = HandleTable.lpSize(c, base);
        long loc = HandleTable.lpLocation(c, base);
        R r;
        try {
            r = reader.apply(readOnly.asSlice(offsetOf(loc), size));
        } catch (RuntimeException e) {
            return readAfterThrow(c, base, handle, reader, s, e);
        }
        if (HandleProtocol.validate(c, base, s)) {
            return r;
        }
        return readContended(c, base, handle, reader);
    }

    /** The reader threw in an attempt that began at state {@code s}: its own exception if the view was consistent. */
    private <R> R readAfterThrow(long[] c, int base, long handle, Function<? super MemorySegment, ? extends R> reader,
                                 long s, RuntimeException e) {
        if (HandleProtocol.validate(c, base, s)) {
            throw e; // the view was consistent: the reader's own exception
        }
        return readContended(c, base, handle, reader); // a stale view made the reader fail: retry
    }

    /** The rest of {@link #read(long, Function)}: more optimistic attempts, then under a pin. */
    private <R> R readContended(long[] c, int base, long handle, Function<? super MemorySegment, ? extends R> reader) {
        for (int attempt = 1; attempt < OPTIMISTIC_TRIES; attempt++) {
            long s = HandleProtocol.beginRead(c, base, handle);
            long size = HandleTable.lpSize(c, base);
            long loc = HandleTable.lpLocation(c, base);
            R r;
            try {
                r = reader.apply(readOnly.asSlice(offsetOf(loc), size));
            } catch (RuntimeException e) {
                if (HandleProtocol.validate(c, base, s)) {
                    throw e;
                }
                continue;
            }
            if (HandleProtocol.validate(c, base, s)) {
                return r;
            }
        }
        long loc = pinForRange(c, base, handle, 0, 0);
        try {
            return reader.apply(readOnly.asSlice(offsetOf(loc), HandleTable.lpSize(c, base)));
        } finally {
            HandleProtocol.unpin(c, base);
        }
    }

    /**
     * {@link #read} of {@code [offset, offset + length)} for a reader that returns a long: no boxing, and a reader
     * that needs no captured offset (so no allocation per call).
     */
    long readAsLong(long handle, long offset, long length, ToLongFunction<? super MemorySegment> reader) {
        return readAsLong(handle, offset, length, false, reader);
    }

    /** {@link #readAsLong(long, long, long, ToLongFunction)} of the whole allocation. */
    long readAsLong(long handle, ToLongFunction<? super MemorySegment> reader) {
        return readAsLong(handle, 0, 0, true, reader);
    }

    /** The first attempt, inlined into callers as {@link #read(long, Function)}'s is. */
    private long readAsLong(long handle, long offset, long asked, boolean whole,
                            ToLongFunction<? super MemorySegment> reader) {
        Objects.requireNonNull(reader, "reader");
        ctx.checkOpen(); // a reader that touches no memory would otherwise not notice a closed allocator
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        long s = HandleProtocol.beginRead(c, base, handle);
        long size = HandleTable.lpSize(c, base);
        long loc = HandleTable.lpLocation(c, base);
        long length = whole ? size : asked;
        if ((offset >= 0) & (length >= 0) & (offset <= size - length)) { // else decided under a pin
            long r;
            try {
                r = reader.applyAsLong(readOnly.asSlice(offsetOf(loc) + offset, length));
            } catch (RuntimeException e) {
                return readAsLongAfterThrow(c, base, handle, offset, asked, whole, reader, s, e);
            }
            if (HandleProtocol.validate(c, base, s)) {
                return r;
            }
        }
        return readAsLongContended(c, base, handle, offset, asked, whole, reader);
    }

    private long readAsLongAfterThrow(long[] c, int base, long handle, long offset, long asked, boolean whole,
                                      ToLongFunction<? super MemorySegment> reader, long s, RuntimeException e) {
        if (HandleProtocol.validate(c, base, s)) {
            throw e;
        }
        return readAsLongContended(c, base, handle, offset, asked, whole, reader);
    }

    /** The rest of {@link #readAsLong}: more optimistic attempts, then under a pin. */
    private long readAsLongContended(long[] c, int base, long handle, long offset, long asked, boolean whole,
                                     ToLongFunction<? super MemorySegment> reader) {
        for (int attempt = 1; attempt < OPTIMISTIC_TRIES; attempt++) {
            long s = HandleProtocol.beginRead(c, base, handle);
            long size = HandleTable.lpSize(c, base);
            long loc = HandleTable.lpLocation(c, base);
            long length = whole ? size : asked;
            if (offset < 0 || length < 0 || offset > size - length) {
                break; // decided under a pin, where size is stable
            }
            long r;
            try {
                r = reader.applyAsLong(readOnly.asSlice(offsetOf(loc) + offset, length));
            } catch (RuntimeException e) {
                if (HandleProtocol.validate(c, base, s)) {
                    throw e;
                }
                continue;
            }
            if (HandleProtocol.validate(c, base, s)) {
                return r;
            }
        }
        long loc = pinForRange(c, base, handle, offset, whole ? 0 : asked);
        try {
            long length = whole ? HandleTable.lpSize(c, base) : asked;
            return reader.applyAsLong(readOnly.asSlice(offsetOf(loc) + offset, length));
        } finally {
            HandleProtocol.unpin(c, base);
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** For {@link PinImpl}: throws the allocator's closed exception once it is closed. */
    void checkAllocatorOpen() {
        ctx.checkOpen();
    }

    /** For {@link PinImpl}: what a pinned access met, or the allocator's closed exception once it is closed. */
    RuntimeException closedOr(RuntimeException e) {
        return ctx.closedOr(e);
    }

    /**
     * The pinned-access helper: checks that the allocator is open, pins the entry, checks that
     * {@code [offset, offset + length)} is inside the allocation, and returns its location (stable until the
     * caller's {@link HandleProtocol#unpin}). On any failure the pin is dropped before the exception leaves. The
     * open check comes before the pin's CAS, whose fence would otherwise hold its loads back: a close that comes
     * between them leaves the access to meet an empty or closed segment, which {@link AllocatorContext#closedOr}
     * reports as closed.
     */
    private long pinForRange(long[] c, int base, long handle, long offset, long length) {
        ctx.checkOpen();
        HandleProtocol.pin(c, base, handle);
        try {
            checkRange(handle, offset, length, HandleTable.lpSize(c, base));
            return HandleTable.lpLocation(c, base);
        } catch (RuntimeException | Error e) {
            HandleProtocol.unpin(c, base);
            throw e;
        }
    }

    private long offsetOf(long loc) {
        return HandleLayout.byteOffsetOfLocation(loc, pageShift);
    }

    /** Throws {@link IndexOutOfBoundsException} unless {@code [offset, offset + length)} is inside {@code size}. */
    static void checkRange(long handle, long offset, long length, long size) {
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IndexOutOfBoundsException("range [" + offset + ", " + offset + " + " + length
                    + ") is out of bounds for handle 0x" + Long.toHexString(handle) + " of " + size + " bytes");
        }
    }
}
