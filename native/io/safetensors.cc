#include "io/safetensors.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "io/atomic_replace.h"

namespace seqsam::io {

std::vector<std::pair<std::string, torch::Tensor>> readSafetensors(const std::string& path, uint64_t dataStart,
                                                                   const std::vector<TensorSlice>& slices) {
  std::error_code ec;
  uint64_t fileSize = std::filesystem::file_size(path, ec);
  require(!ec, code::kIo, path + ": cannot read (" + ec.message() + ")");
  std::ifstream in(path, std::ios::binary);
  require(in.good(), code::kIo, path + ": cannot open");

  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.reserve(slices.size());
  for (const auto& s : slices) {
    // The header is untrusted even after the JS checks: sizes are multiplied with overflow checks.
    int64_t count = 1;
    int64_t bytes = 0;
    bool overflow = false;
    for (int64_t d : s.shape) overflow = overflow || d < 0 || __builtin_mul_overflow(count, d, &count);
    overflow = overflow || __builtin_mul_overflow(count, static_cast<int64_t>(c10::elementSize(s.dtype)), &bytes);
    require(!overflow, code::kCheckpoint, path + ": tensor '" + s.name + "' has a shape whose size overflows");
    uint64_t expected = static_cast<uint64_t>(bytes);
    require(s.end >= s.begin && s.end - s.begin == expected, code::kCheckpoint,
            path + ": tensor '" + s.name + "' has " + std::to_string(s.end - s.begin) + " bytes but its shape needs " +
                std::to_string(expected));
    require(dataStart + s.end <= fileSize, code::kCheckpoint,
            path + ": tensor '" + s.name + "' ends past the end of the file (truncated?)");
    torch::Tensor t = torch::empty(s.shape, torch::TensorOptions().dtype(s.dtype));
    in.seekg(static_cast<std::streamoff>(dataStart + s.begin));
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(expected));
    require(in.good() || expected == 0, code::kIo, path + ": short read of tensor '" + s.name + "'");
    out.emplace_back(s.name, std::move(t));
  }
  return out;
}

void writeSafetensors(const std::string& path, const std::string& header, const std::vector<torch::Tensor>& tensors) {
  std::string padded = header;
  while ((8 + padded.size()) % 8 != 0) padded.push_back(' ');
  ReplaceLock replacing(path);  // held until the rename: concurrent saves of one file never interleave
  std::string temp;
  {
    std::FILE* f = createTempBeside(path, temp);
    auto write = [&](const void* data, size_t bytes) {
      if (bytes > 0 && std::fwrite(data, 1, bytes, f) != bytes) {
        std::fclose(f);
        std::remove(temp.c_str());
        fail(code::kIo, path + ": write failed (" + std::strerror(errno) + ")");
      }
    };
    uint64_t length = padded.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>((length >> (8 * i)) & 0xff);
    write(le, 8);
    write(padded.data(), padded.size());
    for (const auto& t : tensors) {
      torch::Tensor cpu = t.to(torch::kCPU).contiguous();
      write(cpu.data_ptr(), cpu.numel() * cpu.element_size());
    }
    bool flushed = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    std::fclose(f);
    if (!flushed) {
      std::remove(temp.c_str());
      fail(code::kIo, path + ": flush failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::remove(temp.c_str());
    fail(code::kIo, path + ": cannot move the finished file into place (" + ec.message() + ")");
  }
}

}  // namespace seqsam::io
