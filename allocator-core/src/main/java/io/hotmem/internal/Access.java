package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.Pin;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Reads and writes through handles: typed accessors, copies, pins and segments, and the facts of an allocation
 * (size, zone, flags). Never locks. Small reads are optimistic with a pinned fallback; everything else goes
 * through one pinned-access helper, {@link #pinForRange}: pin (see {@link HandleProtocol}), check open and the
 * range, read the stable location; the caller works, then unpins.
 *
 * <p>A memory access that fails under a pin can fail only because the allocator was closed meanwhile (its arenas
 * are closed); {@link AllocatorContext#closedOr} reports that, not the segment's own exception.
 */
final class Access {
    /** Optimistic attempts before a read falls back to pinning. */
    private static final int OPTIMISTIC_TRIES = 4;

    private final AllocatorContext ctx;
    private final HandleTable table;
    private final MemoryTable memory;
    private final int pageShift;

    Access(AllocatorContext ctx, MemoryTable memory) {
        this.ctx = ctx;
        this.table = ctx.table;
        this.memory = memory;
        this.pageShift = ctx.pageShift;
    }

    // ------------------------------------------------------------------------------------------------ facts

    long sizeOf(long handle) {
        return readWord(handle, HandleLayout.SIZE);
    }

    int zoneOf(long handle) {
        return HandleLayout.zoneOfLocation(readWord(handle, HandleLayout.LOCATION));
    }

    int flagsOf(long handle) {
        return (int) readWord(handle, HandleLayout.FLAGS);
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

    /** Optimistic read of {@code width} bytes (1, 4 or 8) with a pinned fallback. */
    long read(long handle, long offset, int width) {
        long[] c = table.chunk(handle);
        int base = HandleLayout.base(handle);
        for (int attempt = 0; attempt < OPTIMISTIC_TRIES; attempt++) {
            long s = HandleProtocol.beginRead(c, base, handle);
            long size = HandleTable.lpSize(c, base);
            long loc = HandleTable.lpLocation(c, base);
            if (offset < 0 || offset > size - width) {
                break; // decided under a pin, where size is stable
            }
            long value;
            try {
                value = load(memoryOf(loc), offsetOf(loc) + offset, width);
            } catch (IllegalStateException | IndexOutOfBoundsException e) {
                // A location that moved on and whose node was unplugged (closed arena), or a torn location.
                continue;
            }
            if (HandleProtocol.validate(c, base, s)) {
                return value;
            }
        }
        long loc = pinForRange(c, base, handle, offset, width);
        try {
            return load(memoryOf(loc), offsetOf(loc) + offset, width);
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
            store(memoryOf(loc), offsetOf(loc) + offset, width, value);
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
            MemorySegment.copy(src, srcOffset, memoryOf(loc), offsetOf(loc) + offset, bytes);
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
            MemorySegment.copy(memoryOf(loc), offsetOf(loc) + offset, dst, dstOffset, bytes);
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
            MemorySegment zoneMemory = memoryOf(loc);
            long at = offsetOf(loc);
            long size = HandleTable.lpSize(c, base);
            if (zoneMemory.byteSize() < at + size) {
                // Only close() unplugs a zone under a pin: the Pin would hold an empty segment.
                throw ctx.closedOr(new IllegalStateException("the memory of handle 0x" + Long.toHexString(handle)
                        + " is gone"));
            }
            return new PinImpl(handle, c, base, zoneMemory, at, size);
        } catch (RuntimeException | Error e) {
            HandleProtocol.unpin(c, base);
            throw e;
        }
    }

    MemorySegment segment(long handle) {
        if ((flagsOf(handle) & AllocFlags.HOTREMOVABLE) != 0) {
            throw new IllegalStateException("segment(0x" + Long.toHexString(handle)
                    + "): the allocation is movable (HOTREMOVABLE); use pin(handle)");
        }
        // A non-movable allocation never moves, so its location is fixed for its life.
        long loc = readWord(handle, HandleLayout.LOCATION);
        return memoryOf(loc).asSlice(offsetOf(loc), readWord(handle, HandleLayout.SIZE));
    }

    // ------------------------------------------------------------------------------------------------ helpers

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

    private MemorySegment memoryOf(long loc) {
        return memory.of(HandleLayout.zoneOfLocation(loc));
    }

    private long offsetOf(long loc) {
        return HandleLayout.pageOfLocation(loc) << pageShift;
    }

    /** Throws {@link IndexOutOfBoundsException} unless {@code [offset, offset + length)} is inside {@code size}. */
    static void checkRange(long handle, long offset, long length, long size) {
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IndexOutOfBoundsException("range [" + offset + ", " + offset + " + " + length
                    + ") is out of bounds for handle 0x" + Long.toHexString(handle) + " of " + size + " bytes");
        }
    }
}
