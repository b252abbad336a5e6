package io.hotmem.internal.prim;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Locale;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Anonymous private memory from {@code mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)}
 * through the FFM Linker (Linux only), reserved once for an allocator's whole address range. Pages are committed
 * on first touch, so reserving room for nodes not yet added, or plugging a large node, costs address space only;
 * {@code madvise(MADV_DONTNEED)} gives pages back and leaves them readable as zeros. The region is aligned to the
 * allocator's page size: mmap aligns only to the OS page (4 KiB), so for larger pages the mapping is
 * {@code align - 4096} bytes longer and the region starts at its first aligned address (the slack is never
 * touched, so with MAP_NORESERVE it costs address space only).
 *
 * <p>The mapping is wrapped in a segment of a shared {@link Arena}; {@link #close} closes it, then runs
 * {@code munmap}: closing a shared arena handshakes every thread, so no thread can still be inside an access when
 * the memory goes away, and any later access throws {@link IllegalStateException} instead of faulting.
 */
final class MmapRange implements AddressRange {
    private static final int PROT_READ = 0x1;
    private static final int PROT_WRITE = 0x2;
    private static final int MAP_PRIVATE = 0x02;
    private static final int MAP_ANONYMOUS = 0x20;
    private static final int MAP_NORESERVE = 0x4000;
    private static final int MADV_DONTNEED = 4;
    private static final long MAP_FAILED = -1L;

    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;
    private static final MethodHandle MADVISE;
    private static final MemoryLayout CAPTURE_LAYOUT;
    private static final VarHandle ERRNO;
    /** True where mmap can be used: Linux, with the symbols found. */
    static final boolean AVAILABLE;

    static {
        MethodHandle mmap = null;
        MethodHandle munmap = null;
        MethodHandle madvise = null;
        MemoryLayout capture = null;
        VarHandle errno = null;
        boolean available = false;
        if (System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")) {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            Optional<MemorySegment> mmapSym = libc.find("mmap");
            Optional<MemorySegment> munmapSym = libc.find("munmap");
            Optional<MemorySegment> madviseSym = libc.find("madvise");
            if (mmapSym.isPresent() && munmapSym.isPresent() && madviseSym.isPresent()) {
                Linker.Option ccs = Linker.Option.captureCallState("errno");
                capture = Linker.Option.captureStateLayout();
                errno = capture.varHandle(MemoryLayout.PathElement.groupElement("errno"));
                mmap = linker.downcallHandle(mmapSym.get(),
                        FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG),
                        ccs);
                munmap = linker.downcallHandle(munmapSym.get(),
                        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
                madvise = linker.downcallHandle(madviseSym.get(),
                        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), ccs);
                available = true;
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
        CAPTURE_LAYOUT = capture;
        ERRNO = errno;
        AVAILABLE = available;
    }

    private final Arena arena;
    private final MemorySegment segment;
    private final long mappedAddress;
    private final long mappedBytes;

    /** The OS page: what mmap aligns to by itself. */
    private static final long OS_PAGE = 4096;

    MmapRange(long bytes, long align) {
        if (Long.bitCount(align) != 1 || align < OS_PAGE) {
            throw new IllegalArgumentException("alignment " + align + " must be a power of two of at least "
                    + OS_PAGE);
        }
        long mapped = bytes + (align - OS_PAGE);
        long address;
        int errno;
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment state = scratch.allocate(CAPTURE_LAYOUT);
            MemorySegment p = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL, mapped,
                    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0L);
            address = p.address();
            errno = (int) ERRNO.get(state, 0L);
        } catch (Throwable t) {
            throw new IllegalStateException("mmap of " + mapped + " bytes failed: " + t, t);
        }
        if (address == MAP_FAILED || address == 0) {
            throw new IllegalStateException("mmap of " + mapped + " bytes failed: errno " + errno);
        }
        long aligned = (address + align - 1) & -align;
        Arena shared = Arena.ofShared();
        this.arena = shared;
        this.segment = MemorySegment.ofAddress(aligned).reinterpret(bytes, shared, null);
        this.mappedAddress = address;
        this.mappedBytes = mapped;
    }

    /** Set once the mapping is gone (under this object's monitor, in {@link #close}). */
    private boolean unmapped;

    private static void unmap(long address, long bytes) {
        try {
            int rc = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(address), bytes);
            if (rc != 0) {
                System.getLogger(MmapRange.class.getName()).log(System.Logger.Level.WARNING,
                        "munmap(0x{0}, {1}) returned {2}", Long.toHexString(address), bytes, rc);
            }
        } catch (Throwable t) {
            System.getLogger(MmapRange.class.getName()).log(System.Logger.Level.WARNING, "munmap failed", t);
        }
    }

    @Override
    public MemorySegment segment() {
        return segment;
    }

    @Override
    public void release(long offset, long bytes) {
        // Keeps the arena alive for the call: madvise never runs on a range that is being unmapped.
        MemorySegment range = segment.asSlice(offset, bytes);
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment state = scratch.allocate(CAPTURE_LAYOUT);
            int rc = (int) MADVISE.invokeExact(state, range, bytes, MADV_DONTNEED);
            if (rc != 0) {
                throw new IllegalStateException("madvise(MADV_DONTNEED, " + bytes + " bytes) failed: errno "
                        + (int) ERRNO.get(state, 0L));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("madvise failed: " + t, t);
        }
    }

    @Override
    public boolean canRelease() {
        return true;
    }

    @Override
    public synchronized void close(boolean keepMapped) {
        if (arena.scope().isAlive()) {
            arena.close();
        }
        if (!keepMapped && !unmapped) {
            unmapped = true;
            unmap(mappedAddress, mappedBytes);
        }
    }
}
