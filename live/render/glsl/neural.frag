#version 330 core
// The neural layer in one pass (on a CPU rasteriser every pass costs a full sweep of memory):
// the decoded frame (a small RGBA8 texture) sampled at the render size with a Catmull-Rom
// bicubic filter through fit/fill, zoom, rotation, mirror and kaleidoscope folds computed per
// pixel (so seams stay one pixel sharp); then the colour stage (one 3x3 matrix and offset for
// hue, saturation, contrast, brightness, master and flash, computed on the CPU per frame);
// then trails: the last frame of this pass, zoomed and turned, mixed in.
//
// The switches are compile-time (MIRROR 0-3, KALEIDO, FIT, TRAILS, defined by the host): a
// CPU rasteriser runs both sides of a branch on a uniform, so each switch costs its work in
// every pixel even when off; a variant per combination costs one compile on its first use.
#ifndef MIRROR
#define MIRROR 0
#endif
#ifndef KALEIDO
#define KALEIDO 0
#endif
#ifndef FIT
#define FIT 0
#endif
#ifndef TRAILS
#define TRAILS 0
#endif
in vec2 image_uv;
out vec4 colour;

uniform sampler2D decoded;      // RGBA8, row 0 = top, linear filter, clamped
uniform sampler2D trail;        // this pass's output of the last frame (ping-pong)
uniform vec2 canvas_size;       // the whole picture in render pixels (a tile's canvas)
uniform vec4 view;              // the target on the canvas: canvas uv = xy + image_uv * zw
uniform float source_scale;     // canvas units -> source units (fit/fill)
uniform mat2 rotozoom;          // rotation and 1/zoom, applied to folded canvas coordinates
uniform int segments;           // kaleidoscope wedges (with KALEIDO)
uniform mat3 matrix;            // the colour stage
uniform vec3 offset;
uniform float trail_amount;     // 0 = no trails
uniform mat2 trail_rotozoom;    // rotation and 1/zoom of the trail, per frame

const float PI = 3.14159265358979;

vec2 fold(vec2 p) {
#if KALEIDO
    float wedge = 2.0 * PI / float(segments);
    float angle = mod(atan(p.y, p.x), wedge);
    angle = angle > 0.5 * wedge ? wedge - angle : angle;  // mirrored inside the wedge
    p = length(p) * vec2(cos(angle), sin(angle));
#endif
#if MIRROR == 1 || MIRROR == 3
    p.x = -abs(p.x);
#endif
#if MIRROR == 2 || MIRROR == 3
    p.y = -abs(p.y);
#endif
    return p;
}

// Catmull-Rom in five bilinear taps: the middle two weights of each axis are merged into one
// linear fetch placed between their texels (exact for this kernel, whose middle weights have
// the same sign); of the resulting 3x3 taps the four corners, whose weights are products of
// two small negative lobes (at most 0.0055 of the total), are left out and the rest
// renormalised: a cross of five fetches instead of nine, which on a CPU rasteriser is the
// cost of the pass.
vec3 bicubic(sampler2D image, vec2 uv) {
    vec2 size = vec2(textureSize(image, 0));
    vec2 position = uv * size;
    vec2 centre = floor(position - 0.5) + 0.5;
    vec2 f = position - centre;
    vec2 w0 = f * (-0.5 + f * (1.0 - 0.5 * f));
    vec2 w1 = 1.0 + f * f * (-2.5 + 1.5 * f);
    vec2 w2 = f * (0.5 + f * (2.0 - 1.5 * f));
    vec2 w3 = f * f * (-0.5 + 0.5 * f);
    vec2 w12 = w1 + w2;
    vec2 t0 = (centre - 1.0) / size;
    vec2 t12 = (centre + w2 / w12) / size;
    vec2 t3 = (centre + 2.0) / size;
    vec3 sum = texture(image, vec2(t12.x, t0.y)).rgb * (w12.x * w0.y)
             + texture(image, vec2(t0.x, t12.y)).rgb * (w0.x * w12.y)
             + texture(image, vec2(t12.x, t12.y)).rgb * (w12.x * w12.y)
             + texture(image, vec2(t3.x, t12.y)).rgb * (w3.x * w12.y)
             + texture(image, vec2(t12.x, t3.y)).rgb * (w12.x * w3.y);
    float weight = w12.x * w0.y + w0.x * w12.y + w12.x * w12.y + w3.x * w12.y + w12.x * w3.y;
    return sum / weight;
}

vec3 neural(vec2 canvas) {
    vec2 source = rotozoom * fold(canvas) * source_scale;         // -1..1 covers the decode
    // two texels in from each edge: a generator's outer rows and columns carry its padding's
    // artefacts (measured on default-gan: adjacent-column steps of 0.049 and 0.029 in the
    // outer two, 0.011 inside), a line down the side of the picture that is never worth showing
    vec2 inset = 2.0 / vec2(textureSize(decoded, 0));
    vec2 uv = source * (0.5 - inset) + 0.5;
#if FIT
    if (any(greaterThan(abs(source), vec2(1.0)))) return vec3(0.0);  // beside the square
#else
    uv = 1.0 - abs(1.0 - mod(uv, 2.0));  // zoomed out: the picture reflected, no edge smear
#endif
    return clamp(matrix * bicubic(decoded, uv) + offset, 0.0, 1.0);
}

void main() {
    float aspect = canvas_size.x / canvas_size.y;
    vec2 canvas_uv = view.xy + image_uv * view.zw;               // (0, 0, 1, 1) untiled
    vec2 canvas = (canvas_uv * 2.0 - 1.0) * vec2(aspect, 1.0);  // y down, square units
    vec3 rgb = neural(canvas);
#if TRAILS
    // the trail is this target's last frame: canvas uv back to the target's (a tile's
    // samples beyond its guard band are clamped to it: the seam docs/cluster.md measures)
    vec2 trail_uv = ((trail_rotozoom * canvas) / vec2(aspect, 1.0) * 0.5 + 0.5 - view.xy)
                    / view.zw;
    rgb = mix(rgb, texture(trail, trail_uv).rgb, trail_amount);
#endif
    colour = vec4(rgb, 1.0);
}
