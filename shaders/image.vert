#version 330 core
// A quad covering the current viewport, built from gl_VertexID (drawn as a 4-vertex strip,
// no vertex buffer). Texture row 0 is the image's top row, so v grows downwards on screen.

uniform vec4 uv_rect;  // (u0, v0, u1, v1): the part of the image shown (cover crops it)

out vec2 uv;

void main() {
    vec2 corner = vec2(gl_VertexID & 1, gl_VertexID >> 1);  // (0,0) top-left .. (1,1) bottom-right
    uv = mix(uv_rect.xy, uv_rect.zw, corner);
    gl_Position = vec4(corner.x * 2.0 - 1.0, 1.0 - corner.y * 2.0, 0.0, 1.0);
}
