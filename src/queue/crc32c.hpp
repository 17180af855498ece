// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) for spool record checksums.
// Software slicing-by-8 tables, with the SSE4.2 crc32 instruction when the CPU has it.
// It is a checksum against torn writes and bit rot, not a MAC: never use it for authentication.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gatehouse::queue::detail {

// Continues a running CRC: crc32c(b, crc32c(a)) == crc32c(a + b). Start with 0.
std::uint32_t crc32c(const void* data, std::size_t len, std::uint32_t crc = 0);
inline std::uint32_t crc32c(std::string_view s, std::uint32_t crc = 0) { return crc32c(s.data(), s.size(), crc); }
// The table-driven path alone (tests compare it with the hardware path).
std::uint32_t crc32c_portable(const void* data, std::size_t len, std::uint32_t crc = 0);

}  // namespace gatehouse::queue::detail
