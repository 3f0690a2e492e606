// AtomicFile's temporary names and the removal of temporary files that a process killed by
// SIGKILL left behind, with real child processes.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "scorekit/atomic_file.hpp"
#include "scorekit/error.hpp"
#include "scorekit/log.hpp"

using namespace scorekit;

namespace {

struct Scratch {
    std::string dir;
    Scratch() {
        char pattern[] = "/tmp/scorekit-atomic.XXXXXX";
        dir = mkdtemp(pattern);
    }
    ~Scratch() { std::system(("rm -rf '" + dir + "'").c_str()); }
    std::string path(const std::string& name) const { return dir + "/" + name; }
};

bool exists(const std::string& path) {
    struct stat status {};
    return lstat(path.c_str(), &status) == 0;
}

void touch(const std::string& path) { std::ofstream(path) << "partial"; }

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// The host field of this process's temporary names, read from a real AtomicFile's name
// ".probe.tmp.HOST.PID.XXXXXX".
std::string host_field(const Scratch& scratch) {
    AtomicFile probe(scratch.path("probe"));
    const std::string name = base_name(probe.temporary_path());
    const std::string rest = name.substr(std::string(".probe.tmp.").size());
    const std::string pid_and_suffix = "." + std::to_string(getpid()) + "." + rest.substr(rest.size() - 6);
    return rest.substr(0, rest.size() - pid_and_suffix.size());
}

// A child process that opens an AtomicFile for `target`, writes to its temporary file and then
// waits to be killed. Returns the child's pid and sets `temporary` to the file's path.
pid_t start_writer(const std::string& target, std::string& temporary) {
    int channel[2];
    REQUIRE(pipe(channel) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        close(channel[0]);
        try {
            AtomicFile file(target);
            touch(file.temporary_path());
            const std::string line = file.temporary_path() + "\n";
            if (write(channel[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(2);
            for (;;) pause();
        } catch (...) {
            _exit(1);
        }
    }
    close(channel[1]);
    temporary.clear();
    char c;
    while (read(channel[0], &c, 1) == 1 && c != '\n') temporary += c;
    close(channel[0]);
    REQUIRE(!temporary.empty());
    return child;
}

void kill_and_reap(pid_t child) {
    kill(child, SIGKILL);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
}

// The pid of a child that has exited and been reaped, so no process has it.
pid_t finished_pid() {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) _exit(0);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    return child;
}

// Whether stale temporary files may be removed here: in the host's initial PID namespace (inode
// 0xEFFFFFFC on Linux since 3.8) under a host name other than localhost. In a container with its
// own PID namespace the rule is to keep every file, and the tests below check that instead.
bool removal_expected(const std::string& host) {
    struct stat ns {};
    const bool initial = stat("/proc/self/ns/pid", &ns) == 0 && ns.st_ino == 0xEFFFFFFCU;
    return initial && !host.empty() && host != "localhost" && host.rfind("localhost.", 0) != 0;
}

}  // namespace

TEST_CASE("temporary name carries host and pid", "[atomic_file]") {
    Scratch scratch;
    AtomicFile file(scratch.path("out.txt"));
    const std::string name = base_name(file.temporary_path());
    const std::string prefix = ".out.txt.tmp.";
    REQUIRE(name.compare(0, prefix.size(), prefix) == 0);

    // The host name with characters other than letters, digits, '-', '_' and '.' replaced by '_'.
    char buffer[256] = {};
    REQUIRE(gethostname(buffer, sizeof(buffer) - 1) == 0);
    std::string host = std::string(buffer).substr(0, 64);
    for (char& c : host) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    }
    const std::string expected = prefix + host + "." + std::to_string(getpid()) + ".";
    CHECK(name.substr(0, expected.size()) == expected);
    CHECK(name.size() == expected.size() + 6);
    CHECK(exists(file.temporary_path()));
}

TEST_CASE("killed writer's temporary file is removed", "[atomic_file]") {
    set_verbosity(Verbosity::quiet);
    Scratch scratch;
    const bool enabled = removal_expected(host_field(scratch));
    const std::string target = scratch.path("out.h5");
    std::string temporary;
    const pid_t writer = start_writer(target, temporary);
    CHECK(base_name(temporary).find("." + std::to_string(writer) + ".") != std::string::npos);
    kill_and_reap(writer);
    REQUIRE(exists(temporary));  // SIGKILL gave the writer no chance to remove it

    {
        AtomicFile next(target);
        CHECK(exists(temporary) == !enabled);
        touch(next.temporary_path());
        next.commit();
    }
    CHECK(exists(target));
    CHECK(exists(temporary) == !enabled);
}

TEST_CASE("running writer's temporary file is kept", "[atomic_file]") {
    set_verbosity(Verbosity::quiet);
    Scratch scratch;
    const std::string target = scratch.path("out.h5");
    std::string temporary;
    const pid_t writer = start_writer(target, temporary);
    {
        AtomicFile next(target);
        touch(next.temporary_path());
        next.commit();
    }
    CHECK(exists(temporary));
    kill_and_reap(writer);
}

TEST_CASE("unattributable temporary files are kept", "[atomic_file]") {
    set_verbosity(Verbosity::quiet);
    Scratch scratch;
    const std::string host = host_field(scratch);
    const bool enabled = removal_expected(host);
    const std::string dead = std::to_string(finished_pid());
    const std::string kept[] = {
        ".out.h5.tmp.other-" + host + "." + dead + ".Ab12Cd",  // another host
        ".other.h5.tmp." + host + "." + dead + ".Ab12Cd",      // another target
        ".out.h5.tmp.Ab12Cd",                                  // the name format without host and pid
        ".out.h5.tmp." + host + ".Ab12Cd",                     // no pid
        ".out.h5.tmp." + host + ".12x4.Ab12Cd",                // a pid that is not a number
        ".out.h5.tmp." + host + "." + dead + ".Ab1",           // not mkstemp's suffix
        ".out.h5.tmp." + host + "." + std::to_string(getpid()) + ".Ab12Cd",  // this process
    };
    for (const std::string& name : kept) touch(scratch.path(name));
    const std::string directory = scratch.path(".out.h5.tmp." + host + "." + dead + ".Dir123");
    REQUIRE(mkdir(directory.c_str(), 0700) == 0);
    const std::string stale = scratch.path(".out.h5.tmp." + host + "." + dead + ".Xy34Zw");
    touch(stale);

    AtomicFile next(scratch.path("out.h5"));
    for (const std::string& name : kept) CHECK(exists(scratch.path(name)));
    CHECK(exists(directory));
    CHECK(exists(stale) == !enabled);
}

TEST_CASE("output check removes stale temporary files", "[atomic_file]") {
    set_verbosity(Verbosity::quiet);
    Scratch scratch;
    const std::string host = host_field(scratch);
    const bool enabled = removal_expected(host);
    const std::string stale = scratch.path(".run.h5.ckpt.tmp." + host + "." + std::to_string(finished_pid()) + ".Xy34Zw");
    touch(stale);
    check_output_writable(scratch.path("run.h5.ckpt"), "--checkpoint");
    CHECK(exists(stale) == !enabled);
    CHECK(!exists(scratch.path("run.h5.ckpt")));
}

TEST_CASE("repeated file found by any path", "[atomic_file]") {
    Scratch scratch;
    const std::string file = scratch.path("a.wet");
    touch(file);
    REQUIRE(symlink("a.wet", scratch.path("link.wet").c_str()) == 0);
    REQUIRE(link(file.c_str(), scratch.path("hard.wet").c_str()) == 0);
    touch(scratch.path("copy.wet"));
    const std::string spellings[] = {file, scratch.dir + "/./a.wet", scratch.dir + "//a.wet",
                                     scratch.dir + "/../" + base_name(scratch.dir) + "/a.wet",
                                     scratch.path("link.wet"), scratch.path("hard.wet")};
    for (const std::string& second : spellings) {
        INFO(second);
        std::size_t first_index = 9, second_index = 9;
        REQUIRE(find_repeated_file({file, scratch.path("copy.wet"), "-", "", second}, first_index, second_index));
        CHECK(first_index == 0);
        CHECK(second_index == 4);
    }
    // A copy is another file; "-" and "" name none, however often they occur.
    std::size_t first_index = 9, second_index = 9;
    CHECK_FALSE(find_repeated_file({file, scratch.path("copy.wet"), "-", "-", "", ""}, first_index, second_index));
    // Paths that do not exist are compared after "." and ".." are resolved.
    CHECK(find_repeated_file({scratch.path("gone.wet"), scratch.dir + "/./gone.wet"}, first_index, second_index));
    CHECK_FALSE(find_repeated_file({scratch.path("gone.wet"), scratch.path("gone2.wet")}, first_index, second_index));
}

TEST_CASE("inputs listed once check names both", "[atomic_file]") {
    Scratch scratch;
    touch(scratch.path("a.txt"));
    REQUIRE(symlink("a.txt", scratch.path("b.txt").c_str()) == 0);
    CHECK_NOTHROW(check_inputs_listed_once({{"--wiki", scratch.path("a.txt")}, {"--cc", "-"}}));
    CHECK_THROWS_AS(check_inputs_listed_once({{"--wiki", scratch.path("a.txt")}, {"--cc", scratch.path("b.txt")}}),
                    UsageError);
    CHECK_THROWS_WITH(check_inputs_listed_once({{"--wiki", scratch.path("a.txt")}, {"--cc", scratch.path("b.txt")}}),
                      Catch::Contains("invalid --cc") && Catch::Contains("b.txt") &&
                          Catch::Contains("it is the same file as --wiki") && Catch::Contains("a.txt"));
    CHECK_THROWS_WITH(check_inputs_listed_once({{"input", scratch.path("a.txt")}, {"input", scratch.path("a.txt")}}),
                      Catch::Contains("it is given twice;"));
}
