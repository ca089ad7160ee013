//! Expected values were taken from redis-server 7.0.15 (`redis-cli EVAL`).

use std::time::Duration;

use bytes::Bytes;

use super::*;

/// Records calls; GET x answers "v", INCR answers a WRONGTYPE error,
/// anything else OK.
#[derive(Default)]
struct Fake {
    calls: Vec<Vec<Bytes>>,
    kill_after: Option<Duration>,
    logs: Vec<(i32, String)>,
}

impl Host for Fake {
    fn call(&mut self, args: &[Bytes], resp3: bool) -> Reply {
        self.calls.push(args.to_vec());
        match args[0].to_ascii_lowercase().as_slice() {
            b"get" => Reply::bulk("v"),
            b"nil" => Reply::Nil,
            b"hgetall" => Reply::Map(vec![(Reply::bulk("a"), Reply::bulk("1"))]),
            b"incr" => Reply::error(crate::protocol::errors::WRONGTYPE),
            b"foo" => Reply::error(UNKNOWN_COMMAND),
            b"proto" => Reply::Int(resp3 as i64),
            _ => Reply::Ok,
        }
    }
    fn resp3(&self) -> bool {
        false
    }
    fn should_abort(&mut self, elapsed: Duration) -> Option<&'static str> {
        self.kill_after
            .filter(|k| elapsed > *k)
            .map(|_| SCRIPT_KILLED)
    }
    fn log(&mut self, level: i32, msg: &str) {
        self.logs.push((level, msg.into()));
    }
    fn set_repl(&mut self, _flags: u8) {}
}

fn engine() -> Engine {
    Engine::new(Store::new())
}

fn eval(e: &mut Engine, script: &str) -> Reply {
    e.eval(&mut Fake::default(), script.as_bytes(), &[], &[])
}

fn err(script: &str, text: &str) -> Reply {
    Reply::error(format!(
        "{text} script: {}, on @user_script:1.",
        sha1_hex(script.as_bytes())
    ))
}

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

#[test]
fn conversions_lua_to_reply() {
    let mut e = engine();
    assert_eq!(eval(&mut e, "return 3.99"), Reply::Int(3));
    assert_eq!(eval(&mut e, "return -3.99"), Reply::Int(-3));
    assert_eq!(eval(&mut e, "return true"), Reply::Int(1));
    assert_eq!(eval(&mut e, "return false"), Reply::Nil);
    assert_eq!(eval(&mut e, "return nil"), Reply::Nil);
    assert_eq!(
        eval(&mut e, "return {1,2,nil,4}"),
        Reply::Array(vec![Reply::Int(1), Reply::Int(2)])
    );
    assert_eq!(
        eval(&mut e, "return {err='My Error'}"),
        Reply::error("My Error")
    );
    assert_eq!(
        eval(&mut e, "return redis.error_reply('My Error')"),
        Reply::error("My Error")
    );
    assert_eq!(
        eval(&mut e, "return redis.error_reply('foo')"),
        Reply::error("ERR foo")
    );
    assert_eq!(
        eval(&mut e, "return redis.error_reply('-foo bar')"),
        Reply::error("foo bar")
    );
    assert_eq!(
        eval(&mut e, "return redis.status_reply('fine')"),
        Reply::status("fine")
    );
    assert_eq!(eval(&mut e, "return {ok='a\\nb'}"), Reply::status("a b"));
    assert_eq!(eval(&mut e, "return {ok='x', err='y'}"), Reply::error("y"));
    assert_eq!(eval(&mut e, "return {double=3.5}"), Reply::Double(3.5));
    assert_eq!(eval(&mut e, "return {big_number='123'}"), b("123"));
    assert_eq!(
        eval(&mut e, "return {map={a=1}}"),
        Reply::Map(vec![(b("a"), Reply::Int(1))])
    );
    assert_eq!(eval(&mut e, "return {set={a=1}}"), Reply::Set(vec![b("a")]));
    assert_eq!(
        eval(
            &mut e,
            "return {verbatim_string={format='txt',string='hi'}}"
        ),
        Reply::Verbatim(Bytes::from("hi"))
    );
    assert_eq!(
        eval(&mut e, "redis.setresp(3) return true"),
        Reply::Bool(true)
    );
    assert_eq!(
        eval(&mut e, "return {1, {2, 'a'}, {err='e'}}"),
        Reply::Array(vec![
            Reply::Int(1),
            Reply::Array(vec![Reply::Int(2), b("a")]),
            Reply::error("e"),
        ])
    );
}

#[test]
fn conversions_reply_to_lua() {
    let mut e = engine();
    assert_eq!(eval(&mut e, "return redis.call('get','x')"), b("v"));
    assert_eq!(
        eval(&mut e, "return tostring(redis.call('nil'))"),
        b("false")
    );
    assert_eq!(
        eval(
            &mut e,
            "redis.setresp(3) return tostring(redis.call('nil'))"
        ),
        b("nil")
    );
    assert_eq!(
        eval(
            &mut e,
            "local r=redis.call('set','k','v') return type(r)..r.ok"
        ),
        b("tableOK")
    );
    assert_eq!(
        eval(&mut e, "return redis.call('hgetall','h')"),
        Reply::Array(vec![b("a"), b("1")])
    );
    assert_eq!(
        eval(&mut e, "redis.setresp(3) local r = redis.call('hgetall','h') return type(r)..tostring(r.a)..r.map.a"),
        b("tablenil1")
    );
    assert_eq!(eval(&mut e, "return redis.call('proto')"), Reply::Int(0));
    assert_eq!(
        eval(&mut e, "redis.setresp(3) return redis.call('proto')"),
        Reply::Int(1)
    );
    let r = redis_pcall_err();
    assert_eq!(r, b("ERR value is not an integer or out of range"));
}

fn redis_pcall_err() -> Reply {
    struct H;
    impl Host for H {
        fn call(&mut self, _: &[Bytes], _: bool) -> Reply {
            Reply::error(crate::protocol::errors::NOT_INTEGER)
        }
        fn resp3(&self) -> bool {
            false
        }
        fn should_abort(&mut self, _: Duration) -> Option<&'static str> {
            None
        }
        fn log(&mut self, _: i32, _: &str) {}
        fn set_repl(&mut self, _: u8) {}
    }
    engine().eval(
        &mut H,
        b"local r = redis.pcall('incr','s') return r.err",
        &[],
        &[],
    )
}

#[test]
fn arguments_and_keys() {
    let mut e = engine();
    let mut h = Fake::default();
    let keys = [Bytes::from("k1")];
    let args = [Bytes::from("a1"), Bytes::from("a2")];
    let r = e.eval(
        &mut h,
        b"redis.call('set', KEYS[1], ARGV[2], 0.1, 5) return #ARGV",
        &keys,
        &args,
    );
    assert_eq!(r, Reply::Int(2));
    let sent: Vec<&[u8]> = h.calls[0].iter().map(|b| b.as_ref()).collect();
    assert_eq!(
        sent,
        [&b"set"[..], b"k1", b"a2", b"0.10000000000000001", b"5"]
    );
}

#[test]
fn errors_as_redis() {
    let mut e = engine();
    for (s, text) in [
        (
            "return x",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'x'",
        ),
        (
            "x=1",
            "ERR user_script:1: Attempt to modify a readonly table",
        ),
        (
            "redis.call=1",
            "ERR user_script:1: Attempt to modify a readonly table",
        ),
        (
            "string.x=1",
            "ERR user_script:1: Attempt to modify a readonly table",
        ),
        ("error('foo')", "ERR user_script:1: foo"),
        ("error()", "ERR nil"),
        ("error(123)", "ERR user_script:1: 123"),
        ("error({err='My Err'})", "My Err"),
        ("error({})", "ERR unknown error"),
        ("assert(false)", "ERR user_script:1: assertion failed!"),
        ("assert(false, 'msg')", "ERR user_script:1: msg"),
        (
            "return redis.call('foo')",
            "ERR Unknown Redis command called from script",
        ),
        (
            "return redis.call()",
            "ERR Please specify at least one argument for this redis lib call",
        ),
        (
            "return redis.call('incr','s')",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            "return redis.call('set','x',{})",
            "ERR Lua redis lib command arguments must be strings or integers",
        ),
        (
            "return redis.setresp(4)",
            "ERR RESP version must be 2 or 3.",
        ),
        (
            "return redis.setresp()",
            "ERR redis.setresp() requires one argument.",
        ),
        (
            "return redis.set_repl(8)",
            "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ),
        (
            "return redis.set_repl()",
            "ERR redis.set_repl() requires two arguments.",
        ),
        (
            "return redis.log(1)",
            "ERR redis.log() requires two arguments or more.",
        ),
        (
            "return redis.log('x','y')",
            "ERR First argument must be a number (log level).",
        ),
        ("return redis.log(9,'y')", "ERR Invalid debug level."),
        ("return redis.sha1hex()", "ERR wrong number of arguments"),
        (
            "return math.random(0)",
            "ERR user_script:1: bad argument #1 to 'random' (interval is empty)",
        ),
        (
            "return math.random(1,2,3)",
            "ERR user_script:1: wrong number of arguments",
        ),
        (
            "return bit.band('x')",
            "ERR user_script:1: bad argument #1 to 'band' (number expected, got string)",
        ),
        (
            "return bit.band()",
            "ERR user_script:1: bad argument #1 to 'band' (number expected, got no value)",
        ),
    ] {
        assert_eq!(eval(&mut e, s), err(s, text), "{s}");
    }
    assert_eq!(
        eval(&mut e, "return redis.pcall('foo')"),
        Reply::error(UNKNOWN_COMMAND)
    );
    assert_eq!(
        eval(&mut e, "return redis.error_reply(1).err"),
        b("ERR wrong number or type of arguments")
    );
    assert_eq!(
        eval(&mut e, "return 1 +"),
        Reply::error("ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'")
    );
    let s = "#!lua\nreturn x";
    assert_eq!(
        eval(&mut e, s),
        Reply::error(format!(
            "ERR user_script:2: Script attempted to access nonexistent global variable 'x' script: {}, on @user_script:2.",
            sha1_hex(s.as_bytes())
        ))
    );
}

#[test]
fn pcall_returns_error_strings() {
    let mut e = engine();
    let r = eval(
        &mut e,
        "local ok, e = pcall(redis.call, 'foo') return {tostring(ok), type(e), e}",
    );
    assert_eq!(
        r,
        Reply::Array(vec![b("false"), b("string"), b(UNKNOWN_COMMAND)])
    );
    assert_eq!(
        eval(&mut e, "local ok, e = pcall(error, 'x') return e"),
        b("x")
    );
    assert_eq!(
        eval(
            &mut e,
            "local ok, e = pcall(function() local x = nil; return x.y end) return e"
        ),
        b("user_script:1: attempt to index local 'x' (a nil value)")
    );
}

#[test]
fn sandbox() {
    let mut e = engine();
    for g in [
        "os", "debug", "print", "setfenv", "getfenv", "require", "newproxy", "module", "loadfile",
        "dofile", "io",
    ] {
        let s = format!("return type({g})");
        let text = format!(
            "ERR user_script:1: Script attempted to access nonexistent global variable '{g}'"
        );
        assert_eq!(eval(&mut e, &s), err(&s, &text));
    }
    for (g, t) in [
        ("loadstring", "function"),
        ("coroutine", "table"),
        ("collectgarbage", "function"),
        ("unpack", "function"),
        ("gcinfo", "function"),
        ("load", "function"),
    ] {
        assert_eq!(eval(&mut e, &format!("return type({g})")), b(t), "{g}");
    }
    assert_eq!(
        eval(&mut e, "return type(redis.register_function)"),
        b("nil")
    );
    assert_eq!(eval(&mut e, "return _VERSION"), b("Lua 5.1"));
    assert_eq!(eval(&mut e, "return redis.REDIS_VERSION"), b("7.0.15"));
    assert_eq!(
        eval(&mut e, "return redis.REDIS_VERSION_NUM"),
        Reply::Int(458767)
    );
    assert_eq!(eval(&mut e, "return ('abc'):len()"), Reply::Int(3));
    let s = "getmetatable('').__index = nil";
    assert_eq!(
        eval(&mut e, s),
        err(s, "ERR user_script:1: Attempt to modify a readonly table")
    );
    assert_eq!(eval(&mut e, "return ('abc'):upper()"), b("ABC"));
    // loadstring'd code is sandboxed too, and nothing leaks.
    let s = "loadstring('x=1')()";
    assert_eq!(
        eval(&mut e, s),
        Reply::error(format!(
            "ERR [string \"x=1\"]:1: Attempt to modify a readonly table script: {}, on x=1:1.",
            sha1_hex(s.as_bytes())
        ))
    );
    assert_eq!(
        eval(
            &mut e,
            "local n = 0 for k in pairs(string) do n = n + 1 end return n"
        ),
        Reply::Int(15)
    );
    let s = "rawset(string, 'x', 1)";
    assert_eq!(
        eval(&mut e, s),
        Reply::error(format!(
            "ERR Attempt to modify a readonly table script: {}, on @user_script:1.",
            sha1_hex(s.as_bytes())
        ))
    );
    assert_eq!(
        eval(&mut e, "local t = {} rawset(t, 'a', 2) return t.a"),
        Reply::Int(2)
    );
    eval(&mut e, "rawset(_G, 'leak', 1)");
    let s = "return leak";
    assert_eq!(
        eval(&mut e, s),
        err(
            s,
            "ERR user_script:1: Script attempted to access nonexistent global variable 'leak'"
        )
    );
}

#[test]
fn redis_api_helpers() {
    let mut e = engine();
    assert_eq!(
        eval(&mut e, "return redis.sha1hex('')"),
        b("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    );
    assert_eq!(
        eval(&mut e, "return redis.sha1hex(1)"),
        b("356a192b7913b04c54574d18c28d46e6395428ab")
    );
    assert_eq!(
        eval(&mut e, "return redis.replicate_commands()"),
        Reply::Int(1)
    );
    assert_eq!(eval(&mut e, "return redis.breakpoint()"), Reply::Nil);
    assert_eq!(eval(&mut e, "return redis.debug('x')"), Reply::Nil);
    assert_eq!(
        eval(&mut e, "return redis.REPL_ALL + redis.LOG_WARNING"),
        Reply::Int(6)
    );
    let mut h = Fake::default();
    e.eval(&mut h, b"redis.log(redis.LOG_WARNING, 'a', 1)", &[], &[]);
    assert_eq!(h.logs, [(3, "a 1".to_string())]);
}

#[test]
fn math_random_is_redis_sequence() {
    // A fresh redis-server answers 40 then 85.
    let mut e = engine();
    assert_eq!(eval(&mut e, "return math.random(100)"), Reply::Int(40));
    assert_eq!(eval(&mut e, "return math.random(100)"), Reply::Int(85));
}

#[test]
fn bit_library() {
    let mut e = engine();
    let r = eval(&mut e, "return {bit.band(0xff, 0x0f), bit.bor(1,2,4), bit.bxor(3,1), bit.bnot(0), bit.lshift(1,31), bit.rshift(-1,28), bit.arshift(-256,4), bit.rol(0x12345678,8), bit.ror(0x12345678,8), bit.bswap(0x12345678), bit.tobit(0xffffffff+2)}");
    let want = [
        15,
        7,
        2,
        -1,
        -2147483648,
        15,
        -16,
        878082066,
        2014458966,
        2018915346,
        1,
    ];
    assert_eq!(
        r,
        Reply::Array(want.iter().map(|&n| Reply::Int(n)).collect())
    );
    assert_eq!(eval(&mut e, "return bit.tohex(65535)"), b("0000ffff"));
    assert_eq!(eval(&mut e, "return bit.tohex(-1, -4)"), b("FFFF"));
    assert_eq!(eval(&mut e, "return bit.tohex(1, 100)"), b("00000001"));
}

#[test]
fn shebang_flags() {
    let (f, n) = parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
    assert!(f.no_writes && f.allow_oom && !f.eval_compat && !f.allow_stale);
    assert_eq!(n, 31);
    assert!(parse_shebang(b"return 1").unwrap().0.eval_compat);
    assert_eq!(
        parse_shebang(b"#!lua flags=no-writes,foo\n").unwrap_err(),
        "ERR Unexpected flag in script shebang: foo"
    );
    assert_eq!(
        parse_shebang(b"#!lua2\n").unwrap_err(),
        "ERR Unexpected engine in script shebang: #!lua2"
    );
    assert_eq!(
        parse_shebang(b"#!lua x=1\n").unwrap_err(),
        "ERR Unknown lua shebang option: x=1"
    );
    assert_eq!(
        parse_shebang(b"#!lua").unwrap_err(),
        "ERR Invalid script shebang"
    );
    let mut e = engine();
    assert_eq!(
        eval(&mut e, "#!lua flags=no-writes\nreturn 7"),
        Reply::Int(7)
    );
}

#[test]
fn script_cache_is_shared() {
    let store = Store::new();
    let mut a = Engine::new(store.clone());
    let mut b2 = Engine::new(store.clone());
    let sha = a.script_load(b"return 42").unwrap();
    assert!(store.script_exists(sha.to_uppercase().as_bytes()));
    assert_eq!(
        b2.evalsha(&mut Fake::default(), sha.as_bytes(), &[], &[]),
        Reply::Int(42)
    );
    store.script_flush();
    assert_eq!(
        b2.evalsha(&mut Fake::default(), sha.as_bytes(), &[], &[]),
        Reply::error(NOSCRIPT)
    );
    assert!(a.script_load(b"return +").is_err());
    assert_eq!(store.scripts_count(), 0);
}

#[test]
fn kill_stops_a_busy_script() {
    let mut e = engine();
    let mut h = Fake {
        kill_after: Some(Duration::from_millis(50)),
        ..Fake::default()
    };
    let s = "while true do pcall(function() end) end";
    let r = e.eval(&mut h, s.as_bytes(), &[], &[]);
    assert_eq!(r, err(s, SCRIPT_KILLED));
    // The engine is usable afterwards.
    assert_eq!(eval(&mut e, "return 1"), Reply::Int(1));
}

#[test]
fn functions() {
    let store = Store::new();
    let mut e = Engine::new(store.clone());
    let code = "#!lua name=t1\nredis.register_function('f', function(k, a) return redis.call('get', k[1]) end)\nredis.register_function{function_name='g', callback=function(k, a) error('oops') end, flags={'no-writes'}, description='desc'}";
    assert_eq!(e.function_load(code.as_bytes(), false).unwrap(), "t1");
    let mut h = Fake::default();
    assert_eq!(e.fcall(&mut h, b"f", &[Bytes::from("x")], &[]), b("v"));
    assert_eq!(
        e.fcall(&mut h, b"g", &[], &[]),
        Reply::error("ERR user_function:3: oops script: g, on @user_function:3.")
    );
    assert_eq!(
        e.fcall(&mut h, b"nope", &[], &[]),
        Reply::error(FUNCTION_NOT_FOUND)
    );
    let (_, g) = store.function(b"g").unwrap();
    assert!(g.flags.no_writes);
    assert_eq!(store.function_counts(), (1, 2));
    // Another core sees it.
    let mut other = Engine::new(store.clone());
    assert_eq!(other.fcall(&mut h, b"f", &[Bytes::from("x")], &[]), b("v"));
    let load = |e: &mut Engine, c: &str| e.function_load(c.as_bytes(), false).unwrap_err();
    assert_eq!(
        load(&mut e, code),
        Reply::error("ERR Library 't1' already exists")
    );
    assert_eq!(
        load(
            &mut e,
            "#!lua name=t2\nredis.register_function('f', function() end)"
        ),
        Reply::error("ERR Function f already exists")
    );
    assert_eq!(load(&mut e, "#!lua name=t1\nredis.register_function('f')"), Reply::error("ERR Error registering functions: ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
    assert_eq!(load(&mut e, "#!lua name=t9\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}"), Reply::error("ERR Error registering functions: ERR unknown flag given"));
    assert_eq!(load(&mut e, "#!lua name=t9\nlocal x = string.len('a')"), Reply::error("ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'"));
    assert_eq!(load(&mut e, "#!lua name=t9\nx = 1"), Reply::error("ERR Error registering functions: ERR user_function:2: Attempt to modify a readonly table"));
    assert_eq!(
        load(&mut e, "#!lua name=t9\nreturn 1 +"),
        Reply::error(
            "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'"
        )
    );
    assert_eq!(
        load(&mut e, "#!lua name=t9\nlocal a = 1"),
        Reply::error("ERR No functions registered")
    );
    assert_eq!(load(&mut e, "#!lua name=t9\nredis.register_function('a-b', function() end)"), Reply::error("ERR Error registering functions: ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    assert_eq!(load(&mut e, "#!lua name=t9\nredis.register_function('h', function() end)\nreturn redis.call('ping')"), Reply::error("ERR Error registering functions: ERR user_function:3: Script attempted to access nonexistent global variable 'call'"));
    assert_eq!(
        load(&mut e, "#!lua name=t1 foo=bar\n"),
        Reply::error("ERR Invalid metadata value given: foo=bar")
    );
    assert_eq!(
        load(&mut e, "#!js name=t1\n"),
        Reply::error("ERR Engine 'js' not found")
    );
    assert_eq!(
        load(&mut e, "#!lua\n"),
        Reply::error("ERR Library name was not given")
    );
    assert_eq!(
        load(&mut e, "#!lua name=t1"),
        Reply::error("ERR Invalid library metadata")
    );
    assert_eq!(
        load(&mut e, "foo"),
        Reply::error("ERR Missing library metadata")
    );
    // REPLACE, LIST, DUMP/RESTORE, DELETE.
    let v2 = "#!lua name=t1\nredis.register_function('f2', function() return 2 end)";
    e.function_load(v2.as_bytes(), true).unwrap();
    assert_eq!(e.fcall(&mut h, b"f2", &[], &[]), Reply::Int(2));
    assert_eq!(
        e.fcall(&mut h, b"f", &[], &[]),
        Reply::error(FUNCTION_NOT_FOUND)
    );
    let list = store.function_list(Some(b"T*"), true);
    let Reply::Array(libs) = list else { panic!() };
    assert_eq!(libs.len(), 1);
    let dump = store.library_codes();
    store.function_flush();
    assert_eq!(
        e.fcall(&mut h, b"f2", &[], &[]),
        Reply::error(FUNCTION_NOT_FOUND)
    );
    e.function_restore(&dump, RestorePolicy::Append).unwrap();
    assert_eq!(e.fcall(&mut h, b"f2", &[], &[]), Reply::Int(2));
    assert_eq!(
        e.function_restore(&dump, RestorePolicy::Append),
        Err(Reply::error("ERR Library 't1' already exists"))
    );
    store.function_delete(b"t1").unwrap();
    assert_eq!(
        store.function_delete(b"t1"),
        Err(Reply::error("ERR Library not found"))
    );
}

fn hex(e: &mut Engine, expr: &str) -> Reply {
    let s = format!("local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex({expr})");
    eval(e, &s)
}

fn ints(v: &[i64]) -> Reply {
    Reply::Array(v.iter().map(|&n| Reply::Int(n)).collect())
}

#[test]
fn cjson_library() {
    let mut e = engine();
    for (s, want) in [
        ("return cjson.encode({1,2,3,{a=1}})", "[1,2,3,{\"a\":1}]"),
        (
            "return cjson.encode({a={}, b='x/y', c=1.5, d=true, e=cjson.null})",
            "{\"a\":{},\"c\":1.5,\"b\":\"x\\/y\",\"e\":null,\"d\":true}",
        ),
        ("return cjson.encode(0.1)", "0.1"),
        ("return cjson.encode(1e100)", "1e+100"),
        (
            "return cjson.encode(123456789012345)",
            "1.2345678901234e+14",
        ),
        (
            "return cjson.encode('\"\\\\\\n\\t\\1')",
            "\"\\\"\\\\\\n\\t\\u0001\"",
        ),
        ("return cjson.encode({[1]=1,[3]=3})", "[1,null,3]"),
        ("return cjson.encode({[1]=1,a=3})", "{\"1\":1,\"a\":3}"),
        (
            "return cjson.encode({[1]='a', [2]={b={1}}, [3]=false})",
            "[\"a\",{\"b\":[1]},false]",
        ),
        ("return cjson.encode(cjson.decode('[]'))", "{}"),
        ("return cjson.encode({1,2,nil,4})", "[1,2,null,4]"),
        ("return cjson.encode(-0)", "-0"),
        ("return cjson.encode(1/3)", "0.33333333333333"),
        ("return cjson.encode(-1e-7)", "-1e-07"),
        ("return tostring(cjson.decode('null'))", "userdata: (nil)"),
        ("return cjson.decode('\"\\\\u00e9\"')", "é"),
    ] {
        assert_eq!(eval(&mut e, s), b(want), "{s}");
    }
    assert_eq!(
        eval(
            &mut e,
            "return cjson.decode('[1,2,{\"a\":[true,false,null]}]')[3].a[1]"
        ),
        Reply::Int(1)
    );
    assert_eq!(
        eval(&mut e, "return cjson.decode('1.5e3')"),
        Reply::Int(1500)
    );
    assert_eq!(
        eval(&mut e, "return cjson.decode('1e400')"),
        Reply::Int(i64::MIN)
    );
    for (s, text) in [
        (
            "return cjson.encode({[1]=1,[20]=3})",
            "Cannot serialise table: excessively sparse array",
        ),
        (
            "return cjson.encode(function() end)",
            "Cannot serialise function: type not supported",
        ),
        (
            "return cjson.encode({[true]=1})",
            "Cannot serialise boolean: table key must be a number or string",
        ),
        (
            "return cjson.encode(math.huge)",
            "Cannot serialise number: must not be NaN or Inf",
        ),
        (
            "return cjson.decode('{bad')",
            "Expected object key string but found invalid token at character 2",
        ),
        (
            "return cjson.decode('[1,2')",
            "Expected comma or array end but found T_END at character 5",
        ),
        (
            "return cjson.decode('  ')",
            "Expected value but found T_END at character 3",
        ),
        (
            "return cjson.decode('[1] x')",
            "Expected the end but found invalid token at character 5",
        ),
        (
            "return cjson.decode('[tru]')",
            "Expected value but found invalid token at character 2",
        ),
        (
            "return cjson.decode('{\"a\" 1}')",
            "Expected colon but found T_NUMBER at character 6",
        ),
        (
            "return cjson.decode('[1,]')",
            "Expected value but found T_ARR_END at character 4",
        ),
        (
            "return cjson.decode('\"abc')",
            "Expected value but found unexpected end of string at character 5",
        ),
    ] {
        assert_eq!(
            eval(&mut e, s),
            err(s, &format!("ERR user_script:1: {text}")),
            "{s}"
        );
    }
    assert_eq!(
        eval(&mut e, "local ok, e = pcall(cjson.decode, '{') return e"),
        b("Expected object key string but found T_END at character 2")
    );
}

#[test]
fn cmsgpack_library() {
    let mut e = engine();
    assert_eq!(
        hex(&mut e, "cmsgpack.pack({1,2,3}, {a=1}, 1.5, -1, nil, 300, -200, 70000, 5000000000, -40000, 0.1, string.rep('x', 40), true)"),
        b("9301020381a16101ca3fc00000ffc0cd012cd1ff38ce00011170cf000000012a05f200d2ffff63c0cb3fb999999999999ad92878787878787878787878787878787878787878787878787878787878787878787878787878787878c3")
    );
    let r = eval(&mut e, "return {cmsgpack.unpack(cmsgpack.pack(1,'a',{1,2},true,1.5,-5,300,70000,-40000,5000000000))}");
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::Int(1),
            b("a"),
            ints(&[1, 2]),
            Reply::Int(1),
            Reply::Int(1),
            Reply::Int(-5),
            Reply::Int(300),
            Reply::Int(70000),
            Reply::Int(-40000),
            Reply::Int(5000000000),
        ])
    );
    assert_eq!(
        eval(
            &mut e,
            "return cjson.encode(cmsgpack.unpack(cmsgpack.pack({a={1,2}, b=false})))"
        ),
        b("{\"a\":[1,2],\"b\":false}")
    );
    assert_eq!(eval(&mut e, "return cmsgpack.unpack('')"), Reply::Nil);
    let s = "return cmsgpack.pack()";
    assert_eq!(
        eval(&mut e, s),
        err(
            s,
            "ERR user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)"
        )
    );
}

#[test]
fn struct_library() {
    let mut e = engine();
    assert_eq!(hex(&mut e, "struct.pack('>I2', 258)"), b("0102"));
    assert_eq!(
        hex(&mut e, "struct.pack('<i4Bc3s', -2, 7, 'abc', 'zz')"),
        b("feffffff076162637a7a00")
    );
    assert_eq!(
        hex(&mut e, "struct.pack('!4bi4h', 1, 2, 3)"),
        b("01000000020000000300")
    );
    assert_eq!(
        eval(&mut e, "return {struct.unpack('>I2i1', 'abx')}"),
        ints(&[24930, 120, 4])
    );
    assert_eq!(
        eval(
            &mut e,
            "return {struct.unpack('<hc0', struct.pack('<hc0', 3, 'abcdef'))}"
        ),
        Reply::Array(vec![b("abc"), Reply::Int(6)])
    );
    assert_eq!(
        eval(&mut e, "return {struct.unpack('s', 'ab\\0cd')}"),
        Reply::Array(vec![b("ab"), Reply::Int(4)])
    );
    assert_eq!(
        eval(
            &mut e,
            "return {struct.unpack('>d', struct.pack('>d', 1.5))}"
        ),
        ints(&[1, 9])
    );
    assert_eq!(eval(&mut e, "return struct.size('i4bh')"), Reply::Int(7));
    assert_eq!(eval(&mut e, "return struct.size('!8bd')"), Reply::Int(16));
    assert_eq!(hex(&mut e, "struct.pack('x')"), b("00"));
    for (s, text) in [
        (
            "return struct.pack('z')",
            "bad argument #1 to 'pack' (invalid format option 'z')",
        ),
        (
            "return struct.size('s')",
            "bad argument #1 to 'size' (option 's' has no fixed size)",
        ),
        (
            "return struct.unpack('>I4', 'ab')",
            "bad argument #2 to 'unpack' (data string too short)",
        ),
    ] {
        assert_eq!(
            eval(&mut e, s),
            err(s, &format!("ERR user_script:1: {text}")),
            "{s}"
        );
    }
}

/// A host for a RESP3 (or RESP2) client that answers every call with OK.
struct Client3(bool);

impl Host for Client3 {
    fn call(&mut self, _: &[Bytes], _: bool) -> Reply {
        Reply::Ok
    }
    fn resp3(&self) -> bool {
        self.0
    }
    fn should_abort(&mut self, _: Duration) -> Option<&'static str> {
        None
    }
    fn log(&mut self, _: i32, _: &str) {}
    fn set_repl(&mut self, _: u8) {}
}

#[test]
fn wire_bytes_match_redis() {
    // Raw replies of redis-server 7.0.15 to EVAL <script> 0, per client protocol.
    let cases: [(&str, &str, &str); 8] = [
        ("return {big_number='123'}", "(123\r\n", "$3\r\n123\r\n"),
        (
            "return {verbatim_string={format='mkd',string='hi'}}",
            "=6\r\nmkd:hi\r\n",
            "$2\r\nhi\r\n",
        ),
        ("redis.setresp(3) return false", "#f\r\n", ":0\r\n"),
        ("return false", "_\r\n", "$-1\r\n"),
        ("return {err='a\\nb'}", "-a b\r\n", "-a b\r\n"),
        (
            "return {double=0.1}",
            ",0.10000000000000001\r\n",
            "$19\r\n0.10000000000000001\r\n",
        ),
        (
            "return {map={a={1,2}}}",
            "%1\r\n$1\r\na\r\n*2\r\n:1\r\n:2\r\n",
            "*2\r\n$1\r\na\r\n*2\r\n:1\r\n:2\r\n",
        ),
        (
            "return {set={a=true}}",
            "~1\r\n$1\r\na\r\n",
            "*1\r\n$1\r\na\r\n",
        ),
    ];
    let mut e = engine();
    for (script, resp3, resp2) in cases {
        for (proto, want) in [(true, resp3), (false, resp2)] {
            let r = e.eval(&mut Client3(proto), script.as_bytes(), &[], &[]);
            let mut out = Vec::new();
            r.encode(proto, &mut out);
            assert_eq!(
                String::from_utf8_lossy(&out),
                want,
                "{script} resp3={proto}"
            );
        }
    }
}

#[test]
fn functions_do_not_see_eval_globals() {
    let mut e = engine();
    e.function_load(
        b"#!lua name=k\nredis.register_function('k', function(keys) return type(KEYS) end)",
        false,
    )
    .unwrap();
    let mut h = Fake::default();
    e.eval(&mut h, b"return KEYS[1]", &[Bytes::from("a")], &[]);
    assert_eq!(
        e.fcall(&mut h, b"k", &[], &[]),
        Reply::error("ERR user_function:2: Script attempted to access nonexistent global variable 'KEYS' script: k, on @user_function:2.")
    );
}

/// `cargo test --release --lib scripting::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn throughput() {
    let mut e = engine();
    let mut h = Client3(false);
    let keys = [Bytes::from("k")];
    let args = [Bytes::from("v")];
    for script in [
        "return 1",
        "return redis.call('set', KEYS[1], ARGV[1])",
        "return cjson.encode({a=1, b={1,2,3}, c='x'})",
    ] {
        let sha = e.script_load(script.as_bytes()).unwrap();
        let n = 200_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            e.evalsha(&mut h, sha.as_bytes(), &keys, &args);
        }
        let el = t.elapsed();
        println!(
            "{script}: {:.0} runs/s ({:?} each)",
            n as f64 / el.as_secs_f64(),
            el / n
        );
    }
}

#[test]
fn library_contents_match_redis() {
    let mut e = engine();
    let keys = |lib: &str| {
        format!("local t={{}} for k,v in pairs({lib}) do t[#t+1]=k..'='..type(v) end table.sort(t) return table.concat(t, ' ')")
    };
    for (lib, want) in [
        ("cjson", "_NAME=string _VERSION=string decode=function decode_invalid_numbers=function decode_max_depth=function encode=function encode_invalid_numbers=function encode_keep_buffer=function encode_max_depth=function encode_number_precision=function encode_sparse_array=function new=function null=userdata"),
        ("cmsgpack", "_COPYRIGHT=string _DESCRIPTION=string _NAME=string _VERSION=string pack=function unpack=function unpack_limit=function unpack_one=function"),
        ("struct", "pack=function size=function unpack=function"),
        ("bit", "arshift=function band=function bnot=function bor=function bswap=function bxor=function lshift=function rol=function ror=function rshift=function tobit=function tohex=function"),
        ("string", "byte=function char=function dump=function find=function format=function gfind=function gmatch=function gsub=function len=function lower=function match=function rep=function reverse=function sub=function upper=function"),
        ("table", "concat=function foreach=function foreachi=function getn=function insert=function maxn=function remove=function setn=function sort=function"),
        ("coroutine", "create=function resume=function running=function status=function wrap=function yield=function"),
        // Redis also has redis.acl_check_cmd (the host is ACL-free here).
        ("redis", "LOG_DEBUG=number LOG_NOTICE=number LOG_VERBOSE=number LOG_WARNING=number REDIS_VERSION=string REDIS_VERSION_NUM=number REPL_ALL=number REPL_AOF=number REPL_NONE=number REPL_REPLICA=number REPL_SLAVE=number breakpoint=function call=function debug=function error_reply=function log=function pcall=function replicate_commands=function set_repl=function setresp=function sha1hex=function status_reply=function"),
        ("_G", "ARGV=table KEYS=table _G=table _VERSION=string __redis__err__handler=function assert=function bit=table cjson=table cmsgpack=table collectgarbage=function coroutine=table error=function gcinfo=function getmetatable=function ipairs=function load=function loadstring=function math=table next=function pairs=function pcall=function rawequal=function rawget=function rawset=function redis=table select=function setmetatable=function string=table struct=table table=table tonumber=function tostring=function type=function unpack=function xpcall=function"),
    ] {
        assert_eq!(eval(&mut e, &keys(lib)), b(want), "{lib}");
    }
}

#[test]
fn cjson_settings_and_lenient_numbers() {
    let mut e = engine();
    assert_eq!(eval(&mut e, "return cjson.decode('0x10')"), Reply::Int(16));
    assert_eq!(
        eval(&mut e, "return tostring(cjson.decode('nan'))"),
        b("nan")
    );
    assert_eq!(
        eval(&mut e, "return tostring(cjson.decode('[-Infinity]')[1])"),
        b("-inf")
    );
    assert_eq!(
        eval(&mut e, "return tostring(cjson.decode('inf'))"),
        b("inf")
    );
    assert_eq!(eval(&mut e, "return cjson.decode('01')"), Reply::Int(1));
    for (s, text) in [
        (
            "return cjson.decode('1-2')",
            "Expected the end but found T_NUMBER at character 2",
        ),
        (
            "return cjson.decode('1.5e3x')",
            "Expected the end but found invalid token at character 6",
        ),
        (
            "return cjson.decode('-')",
            "Expected value but found invalid number at character 1",
        ),
        (
            "return cjson.decode('[1,2,3]', 4)",
            "bad argument #1 to 'decode' (expected 1 argument)",
        ),
        (
            "return cjson.encode_number_precision(20)",
            "bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)",
        ),
        (
            "return cjson.encode_sparse_array(1,2,3,4)",
            "bad argument #4 to 'encode_sparse_array' (found too many arguments)",
        ),
    ] {
        assert_eq!(
            eval(&mut e, s),
            err(s, &format!("ERR user_script:1: {text}")),
            "{s}"
        );
    }
    assert_eq!(
        eval(&mut e, "return {cjson.encode_sparse_array()}"),
        Reply::Array(vec![Reply::Nil, Reply::Int(2), Reply::Int(10)])
    );
    assert_eq!(
        eval(&mut e, "return cjson.encode_max_depth()"),
        Reply::Int(1000)
    );
    assert_eq!(
        eval(&mut e, "return tostring(cjson.encode_keep_buffer())"),
        b("true")
    );
    assert_eq!(
        eval(&mut e, "return tostring(cjson.decode_invalid_numbers())"),
        b("true")
    );
    assert_eq!(
        eval(&mut e, "return {cjson.encode_sparse_array(true, 3, 4)}"),
        ints(&[1, 3, 4])
    );
    assert_eq!(
        eval(&mut e, "return cjson.encode({[1]=1,[20]=3})"),
        b("{\"1\":1,\"20\":3}")
    );
    assert_eq!(
        eval(
            &mut e,
            "return {cjson.encode_invalid_numbers('null'), cjson.encode(0/0), cjson.encode(1/0)}"
        ),
        Reply::Array(vec![b("null"), b("null"), b("null")])
    );
    assert_eq!(
        eval(
            &mut e,
            "return {cjson.encode_invalid_numbers(true), cjson.encode(0/0), cjson.encode(-1/0)}"
        ),
        Reply::Array(vec![Reply::Int(1), b("nan"), b("-inf")])
    );
    assert_eq!(
        eval(&mut e, "return cjson.encode_number_precision(3)"),
        Reply::Int(3)
    );
    assert_eq!(eval(&mut e, "return cjson.encode(1/3)"), b("0.333"));
    assert_eq!(
        eval(&mut e, "return type(cjson.new().encode)"),
        b("function")
    );
}

#[test]
fn cmsgpack_partial_unpack() {
    let mut e = engine();
    assert_eq!(
        eval(&mut e, "return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3))}"),
        ints(&[1, 1])
    );
    assert_eq!(
        eval(
            &mut e,
            "return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 2)}"
        ),
        ints(&[-1, 3])
    );
    assert_eq!(
        eval(
            &mut e,
            "return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2)}"
        ),
        ints(&[2, 1, 2])
    );
    assert_eq!(
        eval(
            &mut e,
            "return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 5)}"
        ),
        ints(&[-1, 1, 2, 3])
    );
    let s = "return cmsgpack.unpack_one('x', 5)";
    assert_eq!(
        eval(&mut e, s),
        err(
            s,
            "ERR user_script:1: Start offset 5 greater than input length 1."
        )
    );
}

#[test]
fn deep_values_do_not_crash() {
    let mut e = engine();
    // Redis nests ~8000 arrays before the error; the error text is the same.
    let r = eval(&mut e, "local t = {} t[1] = t return t");
    let mut depth = 0;
    let mut cur = &r;
    while let Reply::Array(items) = cur {
        depth += 1;
        cur = &items[0];
    }
    assert!(depth > 100);
    assert_eq!(cur, &Reply::error("ERR reached lua stack limit"));
    for (s, text) in [
        (
            "return cjson.decode(string.rep('[', 1001))",
            "Found too many nested data structures (1001) at character 1001",
        ),
        (
            "local t = {} t[1] = t return cjson.encode(t)",
            "Cannot serialise, excessive nesting (1001)",
        ),
        (
            "return cjson.decode(string.rep('[', 1000))",
            "Expected value but found T_END at character 1001",
        ),
    ] {
        assert_eq!(
            eval(&mut e, s),
            err(s, &format!("ERR user_script:1: {text}")),
            "{s}"
        );
    }
    assert_eq!(
        hex(
            &mut e,
            "(function() local t = {} t[1] = t return cmsgpack.pack(t) end)()"
        ),
        b("91919191919191919191919191919191c0")
    );
    let s = "return cmsgpack.unpack(string.rep('\\145', 100000))";
    assert_eq!(
        eval(&mut e, s),
        err(s, "ERR user_script:1: stack overflow (nesting too deep)")
    );
}

#[test]
fn number_formatting() {
    use super::raw::format_number;
    for (n, p, want) in [
        (0.0, 14, "0"),
        (-0.0, 14, "-0"),
        (5.0, 17, "5"),
        (-42.0, 14, "-42"),
        (99999999999999.0, 14, "99999999999999"),
        (123456789012345.0, 14, "1.2345678901234e+14"),
        (123456789012345.0, 17, "123456789012345"),
        (0.1, 17, "0.10000000000000001"),
        (1e100, 14, "1e+100"),
    ] {
        assert_eq!(format_number(n, p), want, "{n} {p}");
    }
}
