package io.hotmem.internal.prim;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Locale;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The Linux {@code membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)} system call: when {@link #run()} returns, every
 * other thread of this process that was running has executed a full memory barrier, as if at some point of its
 * instruction stream. This is the heavy half of an asymmetric Dekker protocol: a thread cache's owner orders its own
 * store and load with compiler ordering only, and the rare thread that takes its blocks pays for both.
 * {@link #AVAILABLE} is false where the call is missing or refused (not Linux, an old kernel, a seccomp filter);
 * the owners then use a full fence instead (see {@code ThreadCache}).
 */
public final class Membarrier {
    private static final long SYS_MEMBARRIER_X86_64 = 324;
    private static final long SYS_MEMBARRIER_AARCH64 = 283;
    private static final int CMD_QUERY = 0;
    private static final int CMD_PRIVATE_EXPEDITED = 1 << 3;
    private static final int CMD_REGISTER_PRIVATE_EXPEDITED = 1 << 4;

    private static final MethodHandle SYSCALL;
    private static final long NR;
    /** Whether {@link #run()} is the system call; false means it must not be relied on. */
    public static final boolean AVAILABLE;

    static {
        MethodHandle syscall = null;
        long nr = -1;
        boolean available = false;
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (os.startsWith("linux") && !Boolean.getBoolean("io.hotmem.noMembarrier")) {
            nr = switch (arch) {
                case "amd64", "x86_64" -> SYS_MEMBARRIER_X86_64;
                case "aarch64" -> SYS_MEMBARRIER_AARCH64;
                default -> -1;
            };
            Linker linker = Linker.nativeLinker();
            Optional<MemorySegment> sym = linker.defaultLookup().find("syscall");
            if (nr > 0 && sym.isPresent()) {
                syscall = linker.downcallHandle(sym.get(),
                        FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT),
                        Linker.Option.firstVariadicArg(1));
                try {
                    long commands = (long) syscall.invokeExact(nr, CMD_QUERY, 0, 0);
                    available = commands > 0 && (commands & CMD_PRIVATE_EXPEDITED) != 0
                            && (commands & CMD_REGISTER_PRIVATE_EXPEDITED) != 0
                            && (long) syscall.invokeExact(nr, CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0
                            && (long) syscall.invokeExact(nr, CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
                } catch (Throwable t) {
                    available = false;
                }
            }
        }
        SYSCALL = syscall;
        NR = nr;
        AVAILABLE = available;
    }

    private Membarrier() {
    }

    /**
     * Makes every running thread of the process execute a full memory barrier.
     *
     * @throws IllegalStateException if the call fails (it cannot, once {@link #AVAILABLE} is true)
     */
    public static void run() {
        long rc;
        try {
            rc = (long) SYSCALL.invokeExact(NR, CMD_PRIVATE_EXPEDITED, 0, 0);
        } catch (Throwable t) {
            throw new IllegalStateException("membarrier failed: " + t, t);
        }
        if (rc != 0) {
            throw new IllegalStateException("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) returned " + rc);
        }
    }
}
