#version 330 core
// Overlay quads, one instance each: a character cell or a solid (optionally rounded) rectangle.
// Positions are pixels from the viewport's top-left, so whole-pixel rectangles cover exactly
// their pixels and glyphs are sampled 1:1 from the atlas. Drawn as a 4-vertex strip per instance.

uniform vec2 target;  // viewport size in pixels

in vec4 in_rect;   // x, y (top-left corner), width, height in pixels
in vec4 in_color;  // RGBA, straight alpha
in vec3 in_extra;  // glyph index (-1: solid rectangle), corner radius top, corner radius bottom

out vec2 local;         // pixels from the quad's top-left
flat out vec2 size;
flat out vec4 color;
flat out vec3 extra;

void main() {
    vec2 corner = vec2(gl_VertexID & 1, gl_VertexID >> 1);  // (0,0) top-left .. (1,1) bottom-right
    local = corner * in_rect.zw;
    size = in_rect.zw;
    color = in_color;
    extra = in_extra;
    vec2 p = in_rect.xy + local;
    gl_Position = vec4(p.x / target.x * 2.0 - 1.0, 1.0 - p.y / target.y * 2.0, 0.0, 1.0);
}
