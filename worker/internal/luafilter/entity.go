package luafilter

import (
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/internal/spooldir"
	"github.com/mdgo/md/worker/message"
)

// entityType names the metatable of entity userdata.
const entityType = "mimedefang.entity"

// partData is what an entity userdata holds.
type partData struct {
	p    *message.Part
	path string // decoded body file written by entity:path(), "" until then
	ud   *lua.LUserData
}

// entity returns the userdata for p: one per part and request, so that the
// same part compares equal in Lua and its body file is written once.
func (f *Filter) entity(p *message.Part) *lua.LUserData {
	if f.parts == nil {
		f.parts = map[*message.Part]*partData{}
	}
	if d := f.parts[p]; d != nil {
		return d.ud
	}
	d := &partData{p: p, ud: f.L.NewUserData()}
	d.ud.Value = d
	d.ud.Metatable = f.entityMeta
	f.parts[p] = d
	return d.ud
}

// checkPart returns the part of entity argument n, or raises an argument
// error.
func (f *Filter) checkPart(L *lua.LState, n int) *message.Part {
	return f.checkData(L, n).p
}

func (f *Filter) checkData(L *lua.LState, n int) *partData {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if d, ok := ud.Value.(*partData); ok {
			return d
		}
	}
	L.ArgError(n, "entity expected, got "+describe(L.Get(n)))
	return nil
}

// installEntity creates the entity metatable and its methods (the
// MIME::Entity and MIME::Head calls filters use most).
func (f *Filter) installEntity() {
	L := f.L
	mt := L.NewTypeMetatable(entityType)
	methods := map[string]lua.LGFunction{
		// entity:mime_type() is $entity->head->mime_type, lower case.
		"mime_type": func(L *lua.LState) int {
			L.Push(lua.LString(f.checkPart(L, 1).Type()))
			return 1
		},
		// entity:head_get(name [, index]) is $entity->head->get(name,
		// index): the index-th (from 0) field value, unfolded, or nil.
		"head_get": func(L *lua.LState) int {
			vs := f.checkPart(L, 1).HeaderAll(checkText(L, 2))
			i := L.OptInt(3, 0)
			if i < 0 {
				i += len(vs)
			}
			if i < 0 || i >= len(vs) {
				L.Push(lua.LNil)
				return 1
			}
			L.Push(lua.LString(vs[i]))
			return 1
		},
		// entity:head_count(name) is $entity->head->count(name).
		"head_count": func(L *lua.LState) int {
			L.Push(lua.LNumber(len(f.checkPart(L, 1).HeaderAll(checkText(L, 2)))))
			return 1
		},
		// entity:parts() returns the children as an array (empty for a leaf).
		"parts": func(L *lua.LState) int {
			parts := f.checkPart(L, 1).Parts()
			t := L.CreateTable(len(parts), 0)
			for _, p := range parts {
				t.Append(f.entity(p))
			}
			L.Push(t)
			return 1
		},
		// entity:is_multipart() is true for containers (no bodyhandle).
		"is_multipart": func(L *lua.LState) int {
			L.Push(lua.LBool(f.checkPart(L, 1).IsMultipart()))
			return 1
		},
		// entity:body() is the decoded body, nil for a container.
		"body": func(L *lua.LState) int {
			p := f.checkPart(L, 1)
			if p.IsMultipart() {
				L.Push(lua.LNil)
				return 1
			}
			b, err := p.Body()
			if err != nil {
				L.RaiseError("entity:body(): %v", err)
			}
			L.Push(lua.LString(b))
			return 1
		},
		// entity:body_size() is the decoded body's length, 0 for a container.
		"body_size": func(L *lua.LState) int {
			L.Push(lua.LNumber(f.checkPart(L, 1).BodySize()))
			return 1
		},
		// entity:filename() is takeStabAtFilename.
		"filename": func(L *lua.LState) int {
			L.Push(lua.LString(f.checkPart(L, 1).FileName()))
			return 1
		},
		// entity:filenames() is every file name a mail client could take
		// from the part (message.Part.FileNames), as an array: what
		// re_match matches besides fname.
		"filenames": func(L *lua.LState) int {
			t := L.NewTable()
			for _, n := range f.checkPart(L, 1).FileNames() {
				t.Append(lua.LString(n))
			}
			L.Push(t)
			return 1
		},
		// entity:param(name) is a Content-Type parameter, or nil.
		"param": func(L *lua.LState) int {
			v := f.checkPart(L, 1).Param(checkText(L, 2))
			if v == "" {
				L.Push(lua.LNil)
				return 1
			}
			L.Push(lua.LString(v))
			return 1
		},
		// entity:disposition() is the Content-Disposition type, lower case, or "".
		"disposition": func(L *lua.LState) int {
			L.Push(lua.LString(f.checkPart(L, 1).Disposition()))
			return 1
		},
		// entity:charset() is the Content-Type charset, lower case, or "".
		"charset": func(L *lua.LState) int {
			L.Push(lua.LString(f.checkPart(L, 1).Charset()))
			return 1
		},
		// entity:encoding() is the effective Content-Transfer-Encoding.
		"encoding": func(L *lua.LState) int {
			L.Push(lua.LString(f.checkPart(L, 1).Encoding()))
			return 1
		},
		// entity:path() is $entity->bodyhandle->path: a file under Work/
		// holding the decoded body, written on first use; nil for a
		// container or outside a message scan.
		"path": func(L *lua.LState) int {
			d := f.checkData(L, 1)
			if d.p.IsMultipart() || f.cur == nil || f.cur.Message == nil {
				L.Push(lua.LNil)
				return 1
			}
			if d.path == "" {
				p, err := f.writeBody(d.p)
				if err != nil {
					L.RaiseError("entity:path(): %v", err)
				}
				d.path = p
			}
			L.Push(lua.LString(d.path))
			return 1
		},
	}
	mt.RawSetString("__index", L.SetFuncs(L.NewTable(), methods))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("entity " + f.checkPart(L, 1).Type()))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString(entityType))
	f.entityMeta = mt
}

// writeBody writes p's decoded body to a new file under the message's Work
// directory and returns its path.
func (f *Filter) writeBody(p *message.Part) (string, error) {
	dir := filepath.Join(f.cur.CWD, "Work")
	if err := os.MkdirAll(dir, spooldir.DirMode); err != nil {
		return "", err
	}
	f.bodyFiles++
	name := workPath(f.cur.CWD, f.bodyFiles, p.FileName())
	out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, spooldir.FileMode)
	if err != nil {
		return "", err
	}
	if _, err := p.DecodeTo(out); err != nil {
		out.Close()
		return "", err
	}
	return name, out.Close()
}
