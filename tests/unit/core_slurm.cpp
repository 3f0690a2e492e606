// Shards of work for SLURM arrays and the SLURM context that every tool logs.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "scorekit/error.hpp"
#include "scorekit/slurm.hpp"

using namespace scorekit;

namespace {

// Sets environment variables for one test case and restores the previous values afterwards.
class ScopedEnvironment {
public:
    void set(const std::string& name, const char* value) {
        const char* old = std::getenv(name.c_str());
        saved_.push_back({name, old ? old : "", old != nullptr});
        if (value) {
            setenv(name.c_str(), value, 1);
        } else {
            unsetenv(name.c_str());
        }
    }

    ~ScopedEnvironment() {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
            if (it->present) {
                setenv(it->name.c_str(), it->value.c_str(), 1);
            } else {
                unsetenv(it->name.c_str());
            }
        }
    }

private:
    struct Saved {
        std::string name, value;
        bool present;
    };
    std::vector<Saved> saved_;
};

}  // namespace

TEST_CASE("parse_shard accepts I/N", "[slurm]") {
    ShardSpec shard = parse_shard("3/16");
    CHECK(shard.index == 3);
    CHECK(shard.count == 16);
    CHECK(parse_shard("0/1").count == 1);
}

TEST_CASE("parse_shard rejects invalid values", "[slurm]") {
    for (const char* text : {"", "3", "16/16", "-1/4", "1/0", "a/4", "1/4x", "1 /4"}) {
        INFO("value " << text);
        CHECK_THROWS_AS(parse_shard(text), UsageError);
    }
}

TEST_CASE("shard ranges tile the items in order", "[slurm]") {
    for (std::int64_t items : {0, 1, 7, 10, 28, 1000}) {
        for (int count : {1, 2, 3, 4, 7, 11}) {
            std::int64_t next = 0;
            for (int index = 0; index < count; ++index) {
                ShardRange range = shard_range(items, ShardSpec{index, count});
                INFO(items << " items, shard " << index << "/" << count);
                CHECK(range.begin == next);
                CHECK(range.end >= range.begin);
                CHECK(range.end - range.begin <= items / count + 1);
                next = range.end;
            }
            CHECK(next == items);
        }
    }
    // cc_net's split: shard i of N gets [i*n/N, (i+1)*n/N).
    ShardRange range = shard_range(10, ShardSpec{1, 4});
    CHECK(range.begin == 2);
    CHECK(range.end == 5);
}

TEST_CASE("shard from the SLURM array variables", "[slurm]") {
    ScopedEnvironment environment;
    environment.set("SLURM_ARRAY_TASK_ID", nullptr);
    environment.set("SLURM_ARRAY_TASK_COUNT", nullptr);
    CHECK(shard_from_environment().count == 1);

    environment.set("SLURM_ARRAY_TASK_ID", "2");
    environment.set("SLURM_ARRAY_TASK_COUNT", "5");
    ShardSpec shard = shard_from_environment();
    CHECK(shard.index == 2);
    CHECK(shard.count == 5);

    environment.set("SLURM_ARRAY_TASK_ID", "5");
    CHECK_THROWS_AS(shard_from_environment(), UsageError);
}

TEST_CASE("shard from an array numbered 0 to N-1", "[slurm]") {
    ScopedEnvironment environment;
    // --array=0-3%2: a throttle does not change the numbering.
    environment.set("SLURM_ARRAY_TASK_ID", "3");
    environment.set("SLURM_ARRAY_TASK_COUNT", "4");
    environment.set("SLURM_ARRAY_TASK_MIN", "0");
    environment.set("SLURM_ARRAY_TASK_MAX", "3");
    environment.set("SLURM_ARRAY_TASK_STEP", "1");
    ShardSpec shard = shard_from_environment();
    CHECK(shard.index == 3);
    CHECK(shard.count == 4);
}

TEST_CASE("shard from an array not numbered 0 to N-1", "[slurm]") {
    ScopedEnvironment environment;
    environment.set("SLURM_ARRAY_TASK_COUNT", "4");
    environment.set("SLURM_ARRAY_TASK_STEP", "1");

    // --array=1-4: task 1 alone would pass the ID < COUNT check and run shard 1 of a split whose
    // shard 0 no task runs.
    environment.set("SLURM_ARRAY_TASK_ID", "1");
    environment.set("SLURM_ARRAY_TASK_MIN", "1");
    environment.set("SLURM_ARRAY_TASK_MAX", "4");
    CHECK_THROWS_WITH(shard_from_environment(),
                      Catch::Contains("invalid SLURM array for shards \"tasks 1 to 4, 4 tasks\"") &&
                          Catch::Contains("submit --array=0-3, or give --shard $((SLURM_ARRAY_TASK_ID-1))/4 to split") &&
                          Catch::Contains("or --shard $SLURM_ARRAY_TASK_ID/N to re-run shards of an earlier array"));
    // Task 4 has ID == COUNT and gets the same message.
    environment.set("SLURM_ARRAY_TASK_ID", "4");
    CHECK_THROWS_WITH(shard_from_environment(), Catch::Contains("invalid SLURM array for shards"));

    // --array=0-6:2 sets the same COUNT, and tasks 0 and 2 would run shards 0 and 2 of 4.
    environment.set("SLURM_ARRAY_TASK_ID", "2");
    environment.set("SLURM_ARRAY_TASK_MIN", "0");
    environment.set("SLURM_ARRAY_TASK_MAX", "6");
    environment.set("SLURM_ARRAY_TASK_STEP", "2");
    CHECK_THROWS_WITH(shard_from_environment(), Catch::Contains("tasks 0 to 6 step 2, 4 tasks") &&
                                                    Catch::Contains("--shard $((SLURM_ARRAY_TASK_ID/2))/4"));
    // --array=1-7:2
    environment.set("SLURM_ARRAY_TASK_ID", "3");
    environment.set("SLURM_ARRAY_TASK_MIN", "1");
    environment.set("SLURM_ARRAY_TASK_MAX", "7");
    CHECK_THROWS_WITH(shard_from_environment(), Catch::Contains("--shard $(((SLURM_ARRAY_TASK_ID-1)/2))/4"));

    // A re-submitted subset (--array=0,3) has no arithmetic numbering to map.
    environment.set("SLURM_ARRAY_TASK_COUNT", "2");
    environment.set("SLURM_ARRAY_TASK_ID", "0");
    environment.set("SLURM_ARRAY_TASK_MIN", "0");
    environment.set("SLURM_ARRAY_TASK_MAX", "3");
    environment.set("SLURM_ARRAY_TASK_STEP", "1");
    CHECK_THROWS_WITH(shard_from_environment(),
                      Catch::Contains("submit --array=0-1, or give --shard $SLURM_ARRAY_TASK_ID/N to re-run shards"));

    // --array=3: one re-submitted task. Mapping it to shard 0 of 1 would run the whole input.
    environment.set("SLURM_ARRAY_TASK_COUNT", "1");
    environment.set("SLURM_ARRAY_TASK_ID", "3");
    environment.set("SLURM_ARRAY_TASK_MIN", "3");
    environment.set("SLURM_ARRAY_TASK_MAX", "3");
    CHECK_THROWS_WITH(shard_from_environment(), Catch::Contains("give --shard $SLURM_ARRAY_TASK_ID/N to re-run") &&
                                                    !Catch::Contains("))/1"));
}

TEST_CASE("SLURM context line", "[slurm]") {
    SlurmContext outside;
    CHECK(describe_slurm_context(outside).empty());

    SlurmContext array_task;
    array_task.job_id = "42";
    array_task.array_job_id = "40";
    array_task.array_task_id = "2";
    array_task.array_task_count = "4";
    array_task.node = "n01";
    CHECK(describe_slurm_context(array_task) == "SLURM job 42 (array 40 task 2 of 4), node n01");

    SlurmContext step_rank;
    step_rank.job_id = "7";
    step_rank.step_id = "0";
    step_rank.proc_id = "1";
    step_rank.ntasks = "2";
    CHECK(describe_slurm_context(step_rank) == "SLURM job 7, step 0, rank 1 of 2");

    // A batch script is one process even when the allocation has several tasks.
    SlurmContext batch_script;
    batch_script.job_id = "8";
    batch_script.proc_id = "0";
    batch_script.ntasks = "4";
    CHECK(describe_slurm_context(batch_script) == "SLURM job 8");
}

TEST_CASE("SLURM context prefers the step's task count", "[slurm]") {
    ScopedEnvironment environment;
    environment.set("SLURM_JOB_ID", "9");
    environment.set("SLURM_NTASKS", "8");
    environment.set("SLURM_STEP_NUM_TASKS", "2");
    environment.set("SLURM_PROCID", "1");
    SlurmContext context = slurm_context();
    CHECK(context.job_id == "9");
    CHECK(context.ntasks == "2");
    CHECK(context.proc_id == "1");
}

TEST_CASE("shard output names expand {shard}", "[slurm]") {
    CHECK(shard_output_path("out/{shard}.h5", ShardSpec{3, 16}, true) == "out/0003.h5");
    CHECK(shard_output_path("a-{shard}-{shard}.tsv", ShardSpec{12, 16}, false) == "a-0012-0012.tsv");
    CHECK(shard_output_path("fixed.h5", ShardSpec{0, 1}, true) == "fixed.h5");
}

TEST_CASE("shard output names must differ per array task", "[slurm]") {
    CHECK_THROWS_AS(shard_output_path("fixed.h5", ShardSpec{1, 2}, true), UsageError);
    CHECK_THROWS_WITH(shard_output_path("fixed.h5", ShardSpec{1, 2}, true, "--paths"),
                      Catch::Contains("invalid --paths \"fixed.h5\": every task of the SLURM array"));
    // The task id counts only as a number of its own: 1 is not in "run12" or "x10".
    CHECK(shard_output_path("samples-1.h5", ShardSpec{1, 4}, true) == "samples-1.h5");
    CHECK(shard_output_path("task1/samples.h5", ShardSpec{1, 4}, true) == "task1/samples.h5");
    CHECK_THROWS_AS(shard_output_path("run12.h5", ShardSpec{1, 4}, true), UsageError);
    CHECK_THROWS_AS(shard_output_path("x10.h5", ShardSpec{1, 4}, true), UsageError);
    // The digits of a file-type suffix are the same in every task's name.
    CHECK_THROWS_AS(shard_output_path("samples.h5", ShardSpec{5, 8}, true), UsageError);
    CHECK_THROWS_AS(shard_output_path("run/samples.hdf5", ShardSpec{5, 8}, true), UsageError);
    CHECK_THROWS_AS(shard_output_path("pairs.mp4", ShardSpec{4, 8}, true), UsageError);
    CHECK(shard_output_path("samples-5.h5", ShardSpec{5, 8}, true) == "samples-5.h5");
    CHECK(shard_output_path("samples.tsv.5", ShardSpec{5, 8}, true) == "samples.tsv.5");
    CHECK(shard_output_path("run.5/samples.h5", ShardSpec{5, 8}, true) == "run.5/samples.h5");
    // Any number of the file name may be the task id, directories included.
    CHECK(shard_output_path("run-1/out-2.h5", ShardSpec{2, 4}, true) == "run-1/out-2.h5");
    CHECK(shard_output_path("job-417/out-3.h5", ShardSpec{3, 16}, true) == "job-417/out-3.h5");
    CHECK(shard_output_path("run7/out.h5", ShardSpec{7, 8}, true) == "run7/out.h5");
    CHECK_THROWS_AS(shard_output_path("run7/out.h5", ShardSpec{3, 8}, true), UsageError);
    // Realistic per-task names with other numbers after the task id.
    CHECK(shard_output_path("results/2024/run-3/out.h5", ShardSpec{3, 8}, true) == "results/2024/run-3/out.h5");
    CHECK(shard_output_path("run-3/out-v2.h5", ShardSpec{3, 8}, true) == "run-3/out-v2.h5");
    CHECK(shard_output_path("out-3-of-16.h5", ShardSpec{3, 16}, true) == "out-3-of-16.h5");
    CHECK(shard_output_path("samples-3.float32.h5", ShardSpec{3, 8}, true) == "samples-3.float32.h5");
    CHECK(shard_output_path("samples-3.h5:/run2/samples", ShardSpec{3, 8}, true) == "samples-3.h5:/run2/samples");
    CHECK(shard_output_path("run-3/out.h5", ShardSpec{3, 8}, true) == "run-3/out.h5");
    // The same layouts without the task id are shared by all tasks.
    CHECK_THROWS_AS(shard_output_path("results/2024/out.h5", ShardSpec{3, 8}, true), UsageError);
    CHECK_THROWS_AS(shard_output_path("out-v2.h5", ShardSpec{3, 8}, true), UsageError);
    CHECK_THROWS_AS(shard_output_path("run-3/out.h5", ShardSpec{1, 8}, true), UsageError);
    CHECK_THROWS_AS(shard_output_path("samples.float32.h5", ShardSpec{3, 8}, true), UsageError);
    // Tasks cannot write different datasets of one file, so a dataset suffix does not count.
    CHECK_THROWS_AS(shard_output_path("samples.h5:/task3", ShardSpec{3, 8}, true), UsageError);
    CHECK_THROWS_AS(shard_output_path("samples.h5:task3", ShardSpec{3, 8}, true), UsageError);
    // A shared name passes only in the tasks whose ids it contains.
    CHECK(shard_output_path("run-1/out-2.h5", ShardSpec{1, 4}, true) == "run-1/out-2.h5");
    CHECK_THROWS_AS(shard_output_path("run-1/out-2.h5", ShardSpec{0, 4}, true), UsageError);
    CHECK_THROWS_AS(shard_output_path("run-1/out-2.h5", ShardSpec{3, 4}, true), UsageError);
    // Leading zeros, as {shard} writes them, do not change the number.
    CHECK(shard_output_path("out-0003.h5", ShardSpec{3, 16}, true) == "out-0003.h5");
    CHECK(shard_output_path("out-000.h5", ShardSpec{0, 16}, true) == "out-000.h5");
    CHECK_THROWS_WITH(shard_output_path("results/2024/out.h5", ShardSpec{1, 4}, true),
                      Catch::Contains("put {shard} or the task id in the name"));
    // An explicit --shard names one shard, and standard output is per task.
    CHECK(shard_output_path("fixed.h5", ShardSpec{1, 2}, false) == "fixed.h5");
    CHECK(shard_output_path("-", ShardSpec{1, 2}, true) == "-");
}
