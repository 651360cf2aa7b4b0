#version 330 core
// Coverage of an overlay quad: the glyph's texel (atlas cells are the quad's exact size, read
// with texelFetch, no filtering), or 1 inside a solid rectangle with anti-aliased round corners.

uniform sampler2D atlas;  // one channel: coverage, cells of `cell` pixels in `columns` columns
uniform ivec2 cell;
uniform int columns;

in vec2 local;
flat in vec2 size;
flat in vec4 color;
flat in vec3 extra;

out vec4 frag;

float rounded(vec2 p, vec2 half_size, float radius) {
    // Signed distance to a rounded box centred at 0; 0.5 px of anti-aliasing at the edge.
    vec2 q = abs(p) - (half_size - vec2(radius));
    float d = length(max(q, 0.0)) + min(max(q.x, q.y), 0.0) - radius;
    return clamp(0.5 - d, 0.0, 1.0);
}

void main() {
    float coverage;
    if (extra.x < 0.0) {
        float radius = min(local.y < size.y * 0.5 ? extra.y : extra.z, min(size.x, size.y) * 0.5);
        coverage = radius > 0.0 ? rounded(local - size * 0.5, size * 0.5, radius) : 1.0;
    } else {
        int glyph = int(extra.x + 0.5);
        ivec2 origin = ivec2(glyph % columns, glyph / columns) * cell;
        ivec2 texel = clamp(ivec2(floor(local)), ivec2(0), cell - ivec2(1));
        coverage = texelFetch(atlas, origin + texel, 0).r;
    }
    float alpha = color.a * coverage;
    if (alpha <= 0.0) {
        discard;
    }
    frag = vec4(color.rgb, alpha);
}
