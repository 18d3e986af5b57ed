// Collective write bandwidth of the chip archive: every rank writes a contiguous share of
// the chips in batches, exactly as `sarscale ingest` does, and the time from create to a
// durable file (close + fdatasync) is reported. Compare with the disk's sequential rate:
//   dd if=/dev/zero of=X bs=4M count=256 conv=fdatasync
// Usage: mpirun -np N bench_archive [--out FILE] [--gib 1] [--rows 128] [--cols 128]
//                                   [--batch-mib 64] [--phase] [--read] [--keep]
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "sarscale/io/archive.hpp"

namespace {

struct Options {
  std::string out = "bench_archive.h5";
  double gib = 1.0;
  int rows = 128;
  int cols = 128;
  double batch_mib = 64;
  bool phase = false;
  bool read = false;
  bool keep = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
      return argv[++i];
    };
    if (a == "--out")
      o.out = value();
    else if (a == "--gib")
      o.gib = std::stod(value());
    else if (a == "--rows")
      o.rows = std::stoi(value());
    else if (a == "--cols")
      o.cols = std::stoi(value());
    else if (a == "--batch-mib")
      o.batch_mib = std::stod(value());
    else if (a == "--phase")
      o.phase = true;
    else if (a == "--read")
      o.read = true;
    else if (a == "--keep")
      o.keep = true;
    else
      throw std::runtime_error("unknown option " + a);
  }
  if (o.gib <= 0 || o.rows <= 0 || o.cols <= 0 || o.batch_mib <= 0) throw std::runtime_error("sizes must be positive");
  return o;
}

// Forces the file's data to the device, as dd's conv=fdatasync does.
void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0 || ::fdatasync(fd) != 0) std::perror(("fdatasync " + path).c_str());
  if (fd >= 0) ::close(fd);
}

int run(const Options& o, int rank, int size) {
  using namespace sarscale::io;
  const std::int64_t chip_px = static_cast<std::int64_t>(o.rows) * o.cols;
  const std::int64_t chip_bytes = chip_px * 4 * (o.phase ? 2 : 1);
  ArchiveLayout layout;
  layout.chips = std::max<std::int64_t>(1, static_cast<std::int64_t>(o.gib * (1 << 30)) / chip_bytes);
  layout.rows = o.rows;
  layout.cols = o.cols;
  layout.has_phase = o.phase;
  layout.class_names = {"a", "b"};
  const std::int64_t begin = layout.chips * rank / size, end = layout.chips * (rank + 1) / size;
  const std::int64_t batch = std::max<std::int64_t>(1, static_cast<std::int64_t>(o.batch_mib * (1 << 20)) / chip_bytes);
  const std::int64_t rounds = (layout.chips / size + 1 + batch - 1) / batch;

  // Non-trivial pixel values, so no layer below can special-case zeros.
  std::vector<float> mag(static_cast<std::size_t>(batch * chip_px)), phase(o.phase ? mag.size() : 0);
  for (std::size_t i = 0; i < mag.size(); ++i) mag[i] = static_cast<float>(i % 9973) * 0.25f;
  for (std::size_t i = 0; i < phase.size(); ++i) phase[i] = static_cast<float>(i % 628) * 0.01f;
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch), 1);
  std::vector<sarscale::ChipMeta> meta(static_cast<std::size_t>(batch));
  for (auto& m : meta) m.serial = "SN_123";

  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  ArchiveWriter w = ArchiveWriter::create(o.out, MPI_COMM_WORLD, layout);
  for (std::int64_t r = 0; r < rounds; ++r) {
    const std::int64_t first = std::min(end, begin + r * batch);
    const std::int64_t count = std::min(batch, end - first);
    w.write_chips(first, count, mag.data(), o.phase ? phase.data() : nullptr, labels.data(), meta.data(), nullptr);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const double t_written = MPI_Wtime();
  w.close();
  if (rank == 0) sync_file(o.out);
  MPI_Barrier(MPI_COMM_WORLD);
  const double t1 = MPI_Wtime();

  const double file_mib = static_cast<double>(std::filesystem::file_size(o.out)) / (1 << 20);
  const double data_mib = static_cast<double>(layout.chips * chip_bytes) / (1 << 20);
  if (rank == 0)
    std::printf(
        "bench_archive: ranks=%d chips=%lld of %dx%d%s chunk=%lld chips, batch=%lld chips/rank, rounds=%lld\n"
        "  data %.1f MiB, file %.1f MiB; write calls %.3f s, close+fdatasync %.3f s, total %.3f s\n"
        "  => %.1f MiB/s (chip data / total time)\n",
        size, static_cast<long long>(layout.chips), o.rows, o.cols, o.phase ? " +phase" : "",
        static_cast<long long>(w.chunk_chips()), static_cast<long long>(batch), static_cast<long long>(rounds),
        data_mib, file_mib, t_written - t0, t1 - t_written, t1 - t0, data_mib / (t1 - t0));

  if (o.read) {
    const ArchiveReader r = ArchiveReader::open(o.out, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    const double r0 = MPI_Wtime();
    for (std::int64_t k = 0; k < rounds; ++k) {
      const std::int64_t first = std::min(end, begin + k * batch);
      const std::int64_t count = std::min(batch, end - first);
      r.read_chips(first, count, mag.data(), o.phase ? phase.data() : nullptr, Transfer::collective);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    const double r1 = MPI_Wtime();
    if (rank == 0)
      std::printf("  collective read back: %.3f s => %.1f MiB/s (page cache not dropped)\n", r1 - r0,
                  data_mib / (r1 - r0));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0 && !o.keep) std::filesystem::remove(o.out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1, status = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  try {
    status = run(parse(argc, argv), rank, size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_archive[%d]: error: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return status;
}
