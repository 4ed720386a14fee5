// Public face of the CESQL engine: names, results and Expression. The lexer
// and parser are in cesql_parse.cpp, the evaluator in cesql_eval.cpp and the
// functions in cesql_functions.cpp.
#include <cebus/cesql.hpp>

#include "cesql_program.hpp"

namespace cebus::cesql {

std::string_view type_name(Type type) noexcept {
    switch (type) {
        case Type::boolean: return "Boolean";
        case Type::integer: return "Integer";
        case Type::string: return "String";
    }
    return "Boolean";
}

std::string_view error_kind_name(ErrorKind kind) noexcept {
    switch (kind) {
        case ErrorKind::parse: return "parse";
        case ErrorKind::math: return "math";
        case ErrorKind::cast: return "cast";
        case ErrorKind::missing_attribute: return "missingAttribute";
        case ErrorKind::missing_function: return "missingFunction";
        case ErrorKind::function_evaluation: return "functionEvaluation";
        case ErrorKind::generic: return "generic";
    }
    return "generic";
}

CompileError::CompileError(std::size_t offset, std::string reason)
    : ParseError(offset, "invalid CESQL expression: " + std::move(reason)) {}

bool Result::has_error(ErrorKind kind) const noexcept {
    for (const Error& error : errors_) {
        if (error.kind == kind) return true;
    }
    return false;
}

std::string Result::to_string() const {
    switch (type_) {
        case Type::boolean: return boolean_ ? "true" : "false";
        case Type::integer: return std::to_string(integer_);
        case Type::string: break;
    }
    std::string quoted = "'";
    for (const char c : string_) {
        if (c == '\'') quoted += '\\';
        quoted += c;
    }
    quoted += '\'';
    return quoted;
}

Expression Expression::compile(std::string_view text, const CompileOptions& options) {
    return Expression(parse(text, options));
}

Result Expression::evaluate(const Event& event) const {
    Result result;
    Evaluation evaluation(*program_, event, &result.errors_);
    const Value value = evaluation.run();

    result.type_ = value.type();
    result.boolean_ = value.as_boolean();
    result.integer_ = value.as_integer();
    if (value.type() == Type::string) result.string_.assign(value.as_string());
    return result;
}

bool Expression::matches(const Event& event) const {
    Evaluation evaluation(*program_, event, nullptr);
    const Value value = evaluation.run();
    return evaluation.error_count() == 0 && value.as_boolean();
}

const std::string& Expression::text() const noexcept { return program_->text; }

}  // namespace cebus::cesql
