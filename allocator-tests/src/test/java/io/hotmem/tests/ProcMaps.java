package io.hotmem.tests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What /proc/self/maps says about this process's address space (Linux only). */
final class ProcMaps {
    private ProcMaps() {
    }

    /** @return whether a line of /proc/self/maps covers {@code address} */
    static boolean mapped(long address) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            String[] range = line.substring(0, line.indexOf(' ')).split("-");
            if (Long.compareUnsigned(Long.parseUnsignedLong(range[0], 16), address) <= 0
                    && Long.compareUnsigned(address, Long.parseUnsignedLong(range[1], 16)) < 0) {
                return true;
            }
        }
        return false;
    }
}
